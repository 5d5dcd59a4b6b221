package ca

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/vcc/vccpki/store"
)

// SerialStatus is one certificate's status in a walk or a change feed.
type SerialStatus struct {
	Issuer   string
	Serial   *big.Int
	CRLShard int
	CertStatus
}

// statusStore is the engine's store as a store.StatusStore, which OCSP
// pre-signing and CRL shards need.
func (e *Engine) statusStore() (store.StatusStore, error) {
	ss, ok := e.store.(store.StatusStore)
	if !ok {
		return nil, fmt.Errorf("the store (%T) has no status walks, which OCSP pre-signing and CRL shards need", e.store)
	}
	return ss, nil
}

func serialStatus(c store.CertStatus) (SerialStatus, error) {
	n, err := ParseSerial(c.Serial)
	if err != nil {
		return SerialStatus{}, fmt.Errorf("stored serial: %w", err)
	}
	st := SerialStatus{Issuer: c.Issuer, Serial: n, CRLShard: c.CRLShard, CertStatus: CertStatus{Status: Good, NotAfter: c.NotAfter}}
	if !c.RevokedAt.IsZero() {
		st.Status, st.RevokedAt, st.Reason = Revoked, c.RevokedAt, RevocationReason(c.Reason)
	}
	return st, nil
}

// statusPage is how many certificates one store query of a walk reads.
const statusPage = 2000

// WalkStatuses calls fn for every certificate of issuer that is still
// valid, in order of expiry. It reads the store a page at a time, so no
// read transaction stays open while fn works (signing, for the OCSP
// responder) and a million certificates never sit in memory together.
func (e *Engine) WalkStatuses(ctx context.Context, issuer string, fn func(SerialStatus) error) error {
	ss, err := e.statusStore()
	if err != nil {
		return err
	}
	cursor := store.StatusCursor{NotAfter: e.cfg.Now().UTC()}
	for {
		page, err := ss.CertificateStatuses(ctx, issuer, cursor, statusPage)
		if err != nil {
			return err
		}
		for _, c := range page {
			st, err := serialStatus(c)
			if err != nil {
				return err
			}
			if err := fn(st); err != nil {
				return err
			}
		}
		if len(page) < statusPage {
			return nil
		}
		cursor = page[len(page)-1].Cursor()
	}
}

// StatusChanges returns up to limit issuances and revocations committed
// after the change numbered after, by any process, with each
// certificate's current status, and the number to continue from.
func (e *Engine) StatusChanges(ctx context.Context, after int64, limit int) ([]SerialStatus, int64, error) {
	ss, err := e.statusStore()
	if err != nil {
		return nil, after, err
	}
	changes, err := ss.StatusChanges(ctx, after, limit)
	if err != nil {
		return nil, after, err
	}
	out := make([]SerialStatus, 0, len(changes))
	for _, c := range changes {
		st, err := serialStatus(c.CertStatus)
		if err != nil {
			return nil, after, err
		}
		out = append(out, st)
		after = c.Seq
	}
	return out, after, nil
}

// LastStatusChange is the number of the newest change: where a reader
// that has just walked everything starts following.
func (e *Engine) LastStatusChange(ctx context.Context) (int64, error) {
	ss, err := e.statusStore()
	if err != nil {
		return 0, err
	}
	return ss.LastStatusChange(ctx)
}

// PruneStatusChanges forgets changes older than keep.
func (e *Engine) PruneStatusChanges(ctx context.Context, keep time.Duration) error {
	ss, err := e.statusStore()
	if err != nil {
		return err
	}
	return ss.PruneStatusChanges(ctx, e.cfg.Now().Add(-keep))
}
