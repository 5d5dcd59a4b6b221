package sqlstore

import (
	"context"
	"fmt"

	"github.com/vcc/vccpki/store"
)

const signatureColumns = `id, artifact_type, name, digest, signature_digest, profile, signer_serial, signer_subject, timestamp_serial, source, actor, created_at`

// InsertSignatureSQL is the engines' group-commit insert of a registered
// signature. ON CONFLICT DO NOTHING: a signature registered already (its
// ID or its signature digest) inserts no row, which the batch sees in the
// row count, without aborting the shared transaction.
const InsertSignatureSQL = `INSERT INTO vcc_code_signatures (` + signatureColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT DO NOTHING`

// SignatureArgs checks g and returns its column values for
// InsertSignatureSQL.
func SignatureArgs(g store.CodeSignature) ([]any, error) {
	at, err := ToNanos("created_at", g.CreatedAt)
	if err != nil {
		return nil, err
	}
	return []any{g.ID, g.ArtifactType, g.Name, g.Digest, g.SignatureDigest, g.Profile, g.SignerSerial,
		g.SignerSubject, g.TimestampSerial, g.Source, g.Actor, at}, nil
}

// ErrSignatureExists is the outcome of a signature insert that stored no
// row.
func ErrSignatureExists(g store.CodeSignature) error {
	return fmt.Errorf("signature %s is registered already: %w", g.SignatureDigest, store.ErrConflict)
}

func scanSignature(r scanner) (store.CodeSignature, error) {
	var g store.CodeSignature
	var at int64
	err := r.Scan(&g.ID, &g.ArtifactType, &g.Name, &g.Digest, &g.SignatureDigest, &g.Profile, &g.SignerSerial,
		&g.SignerSubject, &g.TimestampSerial, &g.Source, &g.Actor, &at)
	g.CreatedAt = FromNanos(at)
	return g, err
}

// Signature returns one registered signature.
func (s *Store) Signature(ctx context.Context, id string) (store.CodeSignature, error) {
	g, err := scanSignature(s.conn.QueryRow(ctx, `SELECT `+signatureColumns+` FROM vcc_code_signatures WHERE id = ?`, id))
	if notFound(err) {
		return store.CodeSignature{}, fmt.Errorf("signature %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.CodeSignature{}, s.errorf("signature: %w", err)
	}
	return g, nil
}

// Signatures lists registered signatures matching f, ordered by ID.
func (s *Store) Signatures(ctx context.Context, f store.SignatureFilter) ([]store.CodeSignature, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{
		{"digest", f.Digest}, {"signature_digest", f.SignatureDigest}, {"name", f.Name},
		{"signer_serial", f.SignerSerial},
	} {
		if c.v != "" {
			where, args = append(where, c.col+" = ?"), append(args, c.v)
		}
	}
	return selectPage(ctx, s, "signatures", signatureColumns, "vcc_code_signatures", where, args, f.After, f.Limit,
		func(r Rows) (store.CodeSignature, error) { return scanSignature(r) })
}

// PutSigningKey stores a key and makes it its profile's signing key.
func (s *Store) PutSigningKey(ctx context.Context, key store.KeyRecord, sk store.SigningKey, ev store.AuditEvent) error {
	at, err := ToNanos("created_at", sk.CreatedAt)
	if err != nil {
		return s.errorf("put signing key: %w", err)
	}
	_, err = inTx(ctx, s, func(tx Tx) (struct{}, error) {
		if err := s.lockAudit(ctx, tx); err != nil {
			return struct{}{}, err
		}
		if err := insertKey(ctx, tx, key); err != nil {
			return struct{}{}, err
		}
		_, err := tx.Exec(ctx, `INSERT INTO vcc_signing_keys (profile, key_id, serial, der, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (profile) DO UPDATE SET key_id = excluded.key_id, serial = excluded.serial, der = excluded.der, created_at = excluded.created_at`,
			sk.Profile, sk.KeyID, sk.Serial, Blob(sk.DER), at)
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, s.appendAuditLocked(ctx, tx, ev)
	})
	if err != nil {
		return s.errorf("put signing key of %s: %w", sk.Profile, err)
	}
	return nil
}

// SigningKey returns a profile's signing key.
func (s *Store) SigningKey(ctx context.Context, profile string) (store.SigningKey, error) {
	sk := store.SigningKey{Profile: profile}
	var at int64
	err := s.conn.QueryRow(ctx, `SELECT key_id, serial, der, created_at FROM vcc_signing_keys WHERE profile = ?`, profile).
		Scan(&sk.KeyID, &sk.Serial, &sk.DER, &at)
	if notFound(err) {
		return store.SigningKey{}, fmt.Errorf("signing key of %s: %w", profile, store.ErrNotFound)
	}
	if err != nil {
		return store.SigningKey{}, s.errorf("signing key: %w", err)
	}
	sk.CreatedAt = FromNanos(at)
	return sk, nil
}
