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
	return s.recordSignature(ctx, g, nil, ev, more)
}

// RecordStampedSignature is RecordSignature with the token's record in the
// same transaction; a duplicate serial undoes the signature too
// (batch.go, errPartial).
func (s *Store) RecordStampedSignature(ctx context.Context, g store.CodeSignature, token store.TimestampRecord, ev store.AuditEvent, more ...store.AuditEvent) error {
	return s.recordSignature(ctx, g, &token, ev, more)
}

func (s *Store) recordSignature(ctx context.Context, g store.CodeSignature, token *store.TimestampRecord, ev store.AuditEvent, more []store.AuditEvent) error {
	args, err := sqlstore.SignatureArgs(g)
	var tokenArgs []any
	if err == nil && token != nil {
		tokenArgs, err = sqlstore.TokenArgs(*token)
	}
	if err == nil {
		var r *writeReq
		if r, err = s.auditReq(ev); err == nil {
			r.sig, r.sigDup, r.sigToken = args, sqlstore.ErrSignatureExists(g), tokenArgs
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
