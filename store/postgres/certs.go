package postgres

import (
	"context"
	"fmt"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlstore"
)

// InsertCertificate records c and ev in one transaction, shared with other
// concurrent writes of this instance (batch.go).
func (s *Store) InsertCertificate(ctx context.Context, c store.Certificate, ev store.AuditEvent) error {
	if err := sqlstore.CheckSerial(c.Serial); err != nil {
		return fmt.Errorf("postgres store: insert certificate: %w", err)
	}
	args, err := sqlstore.CertArgs(c)
	if err == nil {
		var r *writeReq
		if r, err = s.auditReq(ev); err == nil {
			r.serial, r.certArgs = c.Serial, args
			err = s.submit(ctx, r)
		}
	}
	if err != nil {
		return fmt.Errorf("postgres store: insert certificate %s: %w", c.Serial, err)
	}
	return nil
}
