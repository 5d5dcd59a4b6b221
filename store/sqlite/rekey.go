package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/vcc/vccpki/store"
)

var _ store.RekeyStore = (*Store)(nil)

// ReplaceKey implements store.RekeyStore.
func (s *Store) ReplaceKey(ctx context.Context, id string, prev, next []byte, ev store.AuditEvent) error {
	_, err := withTx(ctx, s, func(tx *cachedTx) (struct{}, error) {
		res, err := tx.ExecContext(ctx, `UPDATE keys SET sealed = ? WHERE id = ? AND sealed = ?`, blob(next), id, blob(prev))
		if err != nil {
			return struct{}{}, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return struct{}{}, err
		} else if n == 0 {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM keys WHERE id = ?`, id).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return struct{}{}, store.ErrNotFound
			}
			if err != nil {
				return struct{}{}, err
			}
			return struct{}{}, store.ErrConflict
		}
		return struct{}{}, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlite store: replace key %s: %w", id, err)
	}
	return nil
}
