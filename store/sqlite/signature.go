package sqlite

import (
	"context"
	"fmt"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlstore"
)

// RecordSignature records g and ev in one transaction, which it shares
// with other concurrent writes (group commit, batch.go), as a certificate
// is: POST /api/v1/sign answers only once it has returned, so a signature
// handed out is one the registry holds.
func (s *Store) RecordSignature(ctx context.Context, g store.CodeSignature, ev store.AuditEvent) error {
	args, err := sqlstore.SignatureArgs(g)
	if err == nil {
		var at int64
		if ev, at, err = s.AuditRow(ev); err == nil {
			err = s.submit(ctx, &writeReq{sig: args, sigDup: sqlstore.ErrSignatureExists(g), ev: ev, evTime: at})
		}
	}
	if err != nil {
		return fmt.Errorf("sqlite store: record signature: %w", err)
	}
	return nil
}
