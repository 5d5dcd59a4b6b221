package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/vcc/vccpki/store/sqlstore"
)

// conn is the store's database as the shared code (store/sqlstore) sees
// it: every statement through the statement cache (stmtcache.go), every
// write transaction queued behind this process's other writers.
type conn struct{ s *Store }

var (
	_ sqlstore.Conn = conn{}
	_ sqlstore.Tx   = txConn{}
)

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return affected(c.s.q.ExecContext(ctx, query, args...))
}

func (c conn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	return wrapRows(c.s.q.QueryContext(ctx, query, args...))
}

func (c conn) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return row{c.s.q.QueryRowContext(ctx, query, args...)}
}

func (c conn) InTx(ctx context.Context, fn func(sqlstore.Tx) error) error {
	_, err := withTx(ctx, c.s, func(tx *cachedTx) (struct{}, error) {
		return struct{}{}, fn(txConn{tx})
	})
	return err
}

func (c conn) Grouped(ctx context.Context, fn func(context.Context, sqlstore.Tx) error) error {
	return c.s.submit(ctx, &writeReq{fn: func(ctx context.Context, tx *cachedTx) error {
		return fn(ctx, txConn{tx})
	}})
}

// txConn is a write transaction as the shared code sees it.
type txConn struct{ tx *cachedTx }

func (t txConn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return affected(t.tx.ExecContext(ctx, query, args...))
}

func (t txConn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	return wrapRows(t.tx.QueryContext(ctx, query, args...))
}

func (t txConn) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return row{t.tx.QueryRowContext(ctx, query, args...)}
}

func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

type row struct{ r *sql.Row }

func (r row) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return sqlstore.ErrNoRows
	}
	return err
}

type rows struct{ *sql.Rows }

func (r rows) Close() { r.Rows.Close() }

func wrapRows(r *sql.Rows, err error) (sqlstore.Rows, error) {
	if err != nil {
		return nil, err
	}
	return rows{r}, nil
}
