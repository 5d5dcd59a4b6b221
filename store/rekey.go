package store

import "context"

// RekeyStore is what `vccpki rekey` needs: replacing the parameters of
// the key-encryption key (its wrapped form and share split) after the
// unseal key was split anew. The CA keys sealed under the KEK are not
// touched. The PostgreSQL store implements it too.
type RekeyStore interface {
	// ReplaceKey sets the sealed bytes of key id to next, only if they are
	// still prev (so two rekeys racing cannot both win), and appends ev,
	// in one transaction. ErrNotFound for an unknown id; ErrConflict if
	// the record no longer holds prev.
	ReplaceKey(ctx context.Context, id string, prev, next []byte, ev AuditEvent) error
}
