package ocsp

import (
	"context"
	"errors"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/store"
)

// CRLs shared by the instances of one store (Config.SharedCRLs). Every
// CRL an instance builds is stored with the change feed position read
// before building it. When a CRL is due here, a stored one is served
// instead of building a new one if it is newer than the one served, not
// yet due itself, and includes the feed up to every revocation this
// instance has seen for it (needChange). So the periodic refresh of each
// CRL is done about once between the instances, while a revocation seen
// here is never left out.

// fromStore returns the stored CRL of sl if it may stand in for a build.
func (s *crlSet) fromStore(ctx context.Context, sl *crlSlot, cur *ca.CRL, validity time.Duration) (*ca.CRL, bool) {
	if s.cfg.SharedCRLs == nil {
		return nil, false
	}
	sc, err := s.cfg.SharedCRLs.LatestCRL(ctx, sl.key.issuer, sl.key.shard)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			s.cfg.Log.Warn("crl: reading the shared CRL", "issuer", sl.key.issuer, "shard", sl.key.shard, "err", err)
		}
		return nil, false
	}
	now := s.cfg.Now()
	switch {
	case cur != nil && sc.Number <= cur.Number,
		!now.Before(sc.ThisUpdate.Add(validity / 2)),
		!now.Before(sc.NextUpdate):
		return nil, false
	}
	if need := sl.needChange.Load(); sc.FromChange < need && s.revokedBetween(ctx, sl.key, sc.FromChange, need) {
		return nil, false
	}
	s.shared.Add(1)
	return ca.StoredCRL(sc.Issuer, sc.Shard, sc.Number, sc.ThisUpdate, sc.NextUpdate, sc.Entries, sc.DER), true
}

// changePosition reads the change feed position a build starts from; ok
// is false when CRLs are not shared or it cannot be read (the CRL is then
// built but not stored).
func (s *crlSet) changePosition(ctx context.Context) (int64, bool) {
	if s.cfg.SharedCRLs == nil {
		return 0, false
	}
	from, err := s.e.LastStatusChange(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.Log.Warn("crl: reading the change feed position", "err", err)
		}
		return 0, false
	}
	return from, true
}

// toStore hands a CRL built here to the other instances.
func (s *crlSet) toStore(ctx context.Context, c *ca.CRL, from int64) {
	err := s.cfg.SharedCRLs.PutCRL(ctx, store.SharedCRL{Issuer: c.Issuer, Shard: c.Shard, Number: c.Number,
		ThisUpdate: c.ThisUpdate, NextUpdate: c.NextUpdate, Entries: c.Entries, FromChange: from, DER: c.Bytes()})
	if err != nil && ctx.Err() == nil {
		s.cfg.Log.Warn("crl: storing the shared CRL", "issuer", c.Issuer, "shard", c.Shard, "err", err)
	}
}

// needAll makes every CRL served here include the change feed up to seq.
func (s *crlSet) needAll(seq int64) {
	for _, sl := range s.list() {
		for {
			old := sl.needChange.Load()
			if seq <= old || sl.needChange.CompareAndSwap(old, seq) {
				break
			}
		}
	}
}

// maxGapPages bounds how much of the change feed revokedBetween reads
// before it gives up and lets the CRL be built here.
const maxGapPages = 20

// revokedBetween reports whether the change feed after from and up to to
// may hold a revocation that the CRL of k lists: true also when it cannot
// tell (the feed was pruned there, or is too long to read).
func (s *crlSet) revokedBetween(ctx context.Context, k crlKey, from, to int64) bool {
	cursor := from
	for range maxGapPages {
		chs, next, err := s.e.StatusChanges(ctx, cursor, changePage)
		// Feed numbers have no gaps, so a page that holds fewer changes
		// than its numbers span was pruned.
		if err != nil || len(chs) == 0 || int64(len(chs)) != next-cursor {
			return true
		}
		for _, ch := range chs {
			if ch.Status == ca.Revoked && ch.Issuer == k.issuer && (k.shard == 0 || ch.CRLShard == k.shard) {
				return true
			}
		}
		if cursor = next; cursor >= to {
			return false
		}
	}
	return true
}
