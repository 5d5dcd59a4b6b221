package sqlstore

import (
	"context"
	"fmt"

	"github.com/vcc/vccpki/store"
)

// ReplaceKey sets the sealed bytes of key id to next, only if they are
// still prev, and appends ev, in one transaction (store.RekeyStore on
// main: `vccpki rekey`). ErrNotFound for an unknown id, ErrConflict if the
// record no longer holds prev, so two rekeys racing cannot both win.
func (s *Store) ReplaceKey(ctx context.Context, id string, prev, next []byte, ev store.AuditEvent) error {
	_, err := inTx(ctx, s, func(tx Tx) (struct{}, error) {
		// The audit lock first, as every writer takes it: racing rekeys
		// queue here, and each sees the record as the one before left it.
		if err := s.lockAudit(ctx, tx); err != nil {
			return struct{}{}, err
		}
		n, err := tx.Exec(ctx, `UPDATE keys SET sealed = ? WHERE id = ? AND sealed = ?`, Blob(next), id, Blob(prev))
		if err != nil {
			return struct{}{}, err
		}
		if n == 0 {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM keys WHERE id = ?)`, id).Scan(&exists); err != nil {
				return struct{}{}, err
			}
			if !exists {
				return struct{}{}, store.ErrNotFound
			}
			return struct{}{}, fmt.Errorf("key %s changed meanwhile: %w", id, store.ErrConflict)
		}
		return struct{}{}, s.appendAuditLocked(ctx, tx, ev)
	})
	if err != nil {
		return s.errorf("replace key %s: %w", id, err)
	}
	return nil
}
