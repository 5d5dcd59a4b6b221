// Package sqlstore is the one SQL implementation of the store interfaces
// that store/sqlite and store/postgres share: every statement and every
// method body that does not depend on the engine is written here once.
// An engine hands it a connection (Conn: exec, query, query-row and write
// transactions) and a Dialect (what differs in SQL semantics: unique
// violations, how the audit chain is locked); the engine keeps opening,
// pool settings, migrations and its hot write path (group commit).
//
// Statements are written with ? placeholders; an engine that wants $n
// rebinds them in its Conn (store/postgres does, once per statement text).
package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vcc/vccpki/store"
)

// ErrNoRows is what a Row's Scan returns when the query found nothing;
// each Conn maps its driver's own error to it.
var ErrNoRows = errors.New("sqlstore: no rows")

// Row is one result row of QueryRow.
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result set of Query.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Querier runs statements outside or inside a transaction.
type Querier interface {
	// Exec runs a statement and returns the rows it affected.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Tx is a write transaction.
type Tx interface {
	Querier
}

// Stmt is one statement of a pipelined batch.
type Stmt struct {
	SQL  string
	Args []any
}

// Pipeliner is a Tx that sends several statements in one round trip
// (pgx.Batch). A Tx without it runs them one by one; an embedded engine
// has no round trips to save.
type Pipeliner interface {
	ExecBatch(ctx context.Context, stmts []Stmt) ([]int64, error)
}

// Conn is what an engine gives the shared code.
type Conn interface {
	Querier
	// InTx runs fn in one write transaction and commits if fn returns nil.
	// The engine decides how the transaction is begun (SQLite: IMMEDIATE,
	// queued behind this process's other writers) and whether a failed
	// begin is retried.
	InTx(ctx context.Context, fn func(Tx) error) error
	// Grouped runs a short write in a transaction the engine may share
	// with other writers (SQLite's group commit, under a savepoint of its
	// own); fn must use the context it is given. An engine without group
	// commit runs fn in its own transaction.
	Grouped(ctx context.Context, fn func(context.Context, Tx) error) error
}

// Dialect is what differs between the engines beyond the connection.
type Dialect struct {
	// Name starts error messages: "sqlite store", "postgres store".
	Name string
	// IsUniqueViolation reports a refused duplicate key.
	IsUniqueViolation func(error) bool
	// LockAuditChain, if set, takes the audit chain's lock until the
	// transaction ends; every transaction that appends to the chain or
	// writes certificates takes it first. SQLite needs none: its write
	// lock is held from BEGIN IMMEDIATE.
	LockAuditChain func(ctx context.Context, tx Tx) error
	// LastStatusChangeSQL reads the newest seq of the status change feed
	// (no row: none yet).
	LastStatusChangeSQL string
	// ILike is the operator of a LIKE that ignores (at least ASCII) case:
	// "LIKE" in SQLite, "ILIKE" in PostgreSQL. Searches use it on the bare
	// column, which costs less than lower() on every row.
	ILike string
	// NameIndex, when set, is the clause that selects the certificates
	// whose subject contains subject or whose names (JSON text) contain
	// names, case-insensitively, through an index; arg binds a value. It
	// returns "" when the index cannot answer (a needle too short for
	// trigrams), and the search falls back to ILike. Nil: ILike always
	// (PostgreSQL, whose pg_trgm indexes serve ILIKE itself).
	NameIndex func(arg func(any) string, subject, names string) string
}

// Store holds the shared method bodies. Engines embed it.
type Store struct {
	conn Conn
	d    Dialect
	now  func() time.Time
}

// New returns the shared store over conn. now is the clock (time.Now if
// nil): it stamps audit events without a time and CA records without a
// creation time.
func New(conn Conn, d Dialect, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{conn: conn, d: d, now: now}
}

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now() }

// Dialect returns the store's dialect, for the engine's own code.
func (s *Store) Dialect() Dialect { return s.d }

func (s *Store) errorf(format string, args ...any) error {
	return fmt.Errorf(s.d.Name+": "+format, args...)
}

func notFound(err error) bool { return errors.Is(err, ErrNoRows) }

// inTx runs fn in a write transaction and returns its value.
func inTx[T any](ctx context.Context, s *Store, fn func(Tx) (T, error)) (T, error) {
	var v T
	err := s.conn.InTx(ctx, func(tx Tx) error {
		var err error
		v, err = fn(tx)
		return err
	})
	return v, err
}

// grouped is inTx through Conn.Grouped.
func grouped[T any](ctx context.Context, s *Store, fn func(context.Context, Tx) (T, error)) (T, error) {
	var v T
	err := s.conn.Grouped(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		v, err = fn(ctx, tx)
		return err
	})
	return v, err
}

// ExecAll runs stmts in tx, pipelined where the Tx can, and returns each
// one's affected rows. The first error stops it.
func ExecAll(ctx context.Context, tx Tx, stmts []Stmt) ([]int64, error) {
	if p, ok := tx.(Pipeliner); ok {
		return p.ExecBatch(ctx, stmts)
	}
	n := make([]int64, len(stmts))
	for i, st := range stmts {
		var err error
		if n[i], err = tx.Exec(ctx, st.SQL, st.Args...); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Savepoint runs fn under a savepoint of tx: an error from fn undoes
// fn's writes alone and leaves tx usable.
func Savepoint(ctx context.Context, tx Tx, fn func() error) error {
	if _, err := tx.Exec(ctx, `SAVEPOINT sqlstore_sp`); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := fn(); err != nil {
		if _, rbErr := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT sqlstore_sp`); rbErr != nil {
			return errors.Join(err, rbErr)
		}
		if _, relErr := tx.Exec(ctx, `RELEASE SAVEPOINT sqlstore_sp`); relErr != nil {
			return errors.Join(err, relErr)
		}
		return err
	}
	if _, err := tx.Exec(ctx, `RELEASE SAVEPOINT sqlstore_sp`); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// AuditRow stamps ev with the store's clock if it has no time; see
// the function AuditRow.
func (s *Store) AuditRow(ev store.AuditEvent) (store.AuditEvent, int64, error) {
	return AuditRow(ev, s.now())
}

// Option configures a store when an engine opens it.
type Option func(*Options)

// Options are what the engines' Open functions accept.
type Options struct {
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// WithClock makes the store read the time from now, as ca and acme do.
func WithClock(now func() time.Time) Option { return func(o *Options) { o.Now = now } }

// Apply collects opts.
func Apply(opts []Option) Options {
	var o Options
	for _, f := range opts {
		f(&o)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// collect reads every row of rows with scan and closes rows.
func collect[T any](rows Rows, scan func(Rows) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// selectPage reads one keyset page of a table keyed by id: the rows
// matching every condition of where, after the id after ("" for the
// start), in id order, at most limit of them (0: all).
func selectPage[T any](ctx context.Context, s *Store, what, columns, table string, where []string, args []any,
	after string, limit int, scan func(Rows) (T, error)) ([]T, error) {
	if after != "" {
		where, args = append(where, "id > ?"), append(args, after)
	}
	q := `SELECT ` + columns + ` FROM ` + table
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id"
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, s.errorf("%s: %w", what, err)
	}
	out, err := collect(rows, scan)
	if err != nil {
		return nil, s.errorf("%s: %w", what, err)
	}
	return out, nil
}

// exec runs one writing statement in a write transaction of its own: on
// SQLite it then queues behind this process's other writers instead of
// polling SQLite's busy handler.
func (s *Store) exec(ctx context.Context, query string, args ...any) (int64, error) {
	return inTx(ctx, s, func(tx Tx) (int64, error) { return tx.Exec(ctx, query, args...) })
}
