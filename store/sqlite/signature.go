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
func (s *Store) RecordSignature(ctx context.Context, g store.CodeSignature, ev store.AuditEvent, more ...store.AuditEvent) error {
	return s.recordSignature(ctx, g, nil, ev, more)
}

// RecordStampedSignature is RecordSignature with the token's record in the
// same request, under the same savepoint (batch.go): a duplicate serial
// rolls back the signature and its entries too.
func (s *Store) RecordStampedSignature(ctx context.Context, g store.CodeSignature, token store.TimestampRecord, ev store.AuditEvent, more ...store.AuditEvent) error {
	return s.recordSignature(ctx, g, &token, ev, more)
}

func (s *Store) recordSignature(ctx context.Context, g store.CodeSignature, token *store.TimestampRecord, ev store.AuditEvent, more []store.AuditEvent) error {
	args, err := sqlstore.SignatureArgs(g)
	r := &writeReq{sig: args, sigDup: sqlstore.ErrSignatureExists(g)}
	if err == nil && token != nil {
		r.sigToken, err = sqlstore.TokenArgs(*token)
	}
	if err == nil {
		r.ev, r.evTime, err = s.AuditRow(ev)
	}
	for _, m := range more {
		if err != nil {
			break
		}
		var a auditRow
		a.ev, a.at, err = s.AuditRow(m)
		r.more = append(r.more, a)
	}
	if err == nil {
		err = s.submit(ctx, r)
	}
	if err != nil {
		return fmt.Errorf("sqlite store: record signature: %w", err)
	}
	return nil
}
