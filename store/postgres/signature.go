package postgres

import (
	"context"
	"fmt"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlstore"
)

// RecordSignature records g and ev in one transaction, shared with other
// concurrent writes of this instance (batch.go), as a certificate is.
func (s *Store) RecordSignature(ctx context.Context, g store.CodeSignature, ev store.AuditEvent, more ...store.AuditEvent) error {
	args, err := sqlstore.SignatureArgs(g)
	if err == nil {
		var r *writeReq
		if r, err = s.auditReq(ev); err == nil {
			r.sig, r.sigDup = args, sqlstore.ErrSignatureExists(g)
			for _, m := range more {
				var extra *writeReq
				if extra, err = s.auditReq(m); err != nil {
					break
				}
				r.more = append(r.more, extra)
			}
			if err == nil {
				err = s.submit(ctx, r)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("postgres store: record signature: %w", err)
	}
	return nil
}
