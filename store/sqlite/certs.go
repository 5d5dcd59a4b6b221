package sqlite

import (
	"context"
	"fmt"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlstore"
)

// InsertCertificate records c and ev in one transaction, which it shares
// with other concurrent writes (group commit, batch.go). It returns once
// that transaction has committed.
func (s *Store) InsertCertificate(ctx context.Context, c store.Certificate, ev store.AuditEvent) error {
	if err := sqlstore.CheckSerial(c.Serial); err != nil {
		return fmt.Errorf("sqlite store: insert certificate: %w", err)
	}
	r, err := s.certRequest(c, ev)
	if err == nil {
		err = s.submit(ctx, r)
	}
	if err != nil {
		return fmt.Errorf("sqlite store: insert certificate %s: %w", c.Serial, err)
	}
	return nil
}

// InsertCertificateAlong is InsertCertificate with along run in the
// certificate's savepoint of the shared transaction, after its audit
// entry: if along fails, the certificate and its entry are undone too.
func (s *Store) InsertCertificateAlong(ctx context.Context, c store.Certificate, ev store.AuditEvent, along store.Along) error {
	if err := sqlstore.CheckSerial(c.Serial); err != nil {
		return fmt.Errorf("sqlite store: insert certificate: %w", err)
	}
	r, err := s.certRequest(c, ev)
	if err == nil {
		r.along = along
		err = s.submit(ctx, r)
	}
	if err != nil {
		return fmt.Errorf("sqlite store: insert certificate %s: %w", c.Serial, err)
	}
	return nil
}

// certRequest validates c and ev and turns them into a queued write.
func (s *Store) certRequest(c store.Certificate, ev store.AuditEvent) (*writeReq, error) {
	args, err := sqlstore.CertArgs(c)
	if err != nil {
		return nil, err
	}
	ev, at, err := s.AuditRow(ev)
	if err != nil {
		return nil, err
	}
	return &writeReq{serial: c.Serial, certArgs: args, ev: ev, evTime: at}, nil
}
