package sqlitetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/vcc/vccpki/store"
)

// InsertAudit appends n audit events made by gen to the chain of the
// database at path, linked and hashed as the store does, in one
// transaction; nothing else may write to the file meanwhile.
func InsertAudit(ctx context.Context, path string, n int, gen func(i int) store.AuditEvent) error {
	db, err := open(path)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var (
		seq  int64
		prev = store.ZeroHash
	)
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO audit_log (seq, time, actor, action, object, result, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for i := range n {
		ev := gen(i)
		ev.Time = ev.Time.UTC()
		seq++
		h := store.ChainHash(seq, prev, ev)
		if _, err := st.ExecContext(ctx, seq, ev.Time.UnixNano(), ev.Actor, ev.Action, ev.Object, ev.Result, prev, h); err != nil {
			return fmt.Errorf("audit entry %d: %w", seq, err)
		}
		prev = h
	}
	return tx.Commit()
}
