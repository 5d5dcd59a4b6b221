package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vcc/vccpki/store/sqlstore"
)

// conn is the pool as the shared code (store/sqlstore) sees it. pgx
// prepares and caches each statement text per connection itself, so the
// hot paths run prepared statements without a cache of ours.
type conn struct{ s *Store }

var (
	_ sqlstore.Conn      = conn{}
	_ sqlstore.Tx        = txConn{}
	_ sqlstore.Pipeliner = txConn{}
)

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := c.s.pool.Exec(ctx, rebind(query), args...)
	return tag.RowsAffected(), err
}

func (c conn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	r, err := c.s.pool.Query(ctx, rebind(query), args...)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (c conn) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return row{c.s.pool.QueryRow(ctx, rebind(query), args...)}
}

func (c conn) InTx(ctx context.Context, fn func(sqlstore.Tx) error) error {
	_, err := withTx(ctx, c.s, func(tx pgx.Tx) (struct{}, error) {
		return struct{}{}, fn(txConn{tx})
	})
	return err
}

// Grouped: the group committer here takes only the pipelined hot writes
// (batch.go); other short writes run in their own transaction.
func (c conn) Grouped(ctx context.Context, fn func(context.Context, sqlstore.Tx) error) error {
	return c.InTx(ctx, func(tx sqlstore.Tx) error { return fn(ctx, tx) })
}

// txConn is a transaction as the shared code sees it.
type txConn struct{ tx pgx.Tx }

func (t txConn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, rebind(query), args...)
	return tag.RowsAffected(), err
}

func (t txConn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	r, err := t.tx.Query(ctx, rebind(query), args...)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (t txConn) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return row{t.tx.QueryRow(ctx, rebind(query), args...)}
}

// ExecBatch sends stmts in one round trip (pgx.Batch).
func (t txConn) ExecBatch(ctx context.Context, stmts []sqlstore.Stmt) ([]int64, error) {
	var b pgx.Batch
	for _, st := range stmts {
		b.Queue(rebind(st.SQL), st.Args...)
	}
	res := t.tx.SendBatch(ctx, &b)
	n := make([]int64, len(stmts))
	for i := range stmts {
		tag, err := res.Exec()
		if err != nil {
			res.Close()
			return nil, err
		}
		n[i] = tag.RowsAffected()
	}
	return n, res.Close()
}

type row struct{ r pgx.Row }

func (r row) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return sqlstore.ErrNoRows
	}
	return err
}

// rebound caches the $n spelling of each statement text: the texts are
// constants or built from a few optional filters, so each is rebound once.
var rebound sync.Map // string -> string

// maxRebound bounds the cache; a text beyond it is rebound every time.
const maxRebound = 1024

var reboundLen atomic.Int64

// rebind turns the shared code's ? placeholders into PostgreSQL's $1, $2,
// ... The shared statements hold no ? inside string literals.
func rebind(q string) string {
	if v, ok := rebound.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	out := b.String()
	if reboundLen.Add(1) <= maxRebound {
		rebound.Store(q, out)
	}
	return out
}

// isUniqueViolation reports whether err is PostgreSQL refusing a duplicate key.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// dialect: the audit chain is locked with an advisory lock (audit.go).
var dialect = sqlstore.Dialect{
	Name:              "postgres store",
	IsUniqueViolation: isUniqueViolation,
	LockAuditChain: func(ctx context.Context, tx sqlstore.Tx) error {
		return lockAuditChain(ctx, tx.(txConn).tx)
	},
	LastStatusChangeSQL: `SELECT last FROM certificate_changes_last WHERE id = 1`,
	ILike:               "ILIKE",
}
