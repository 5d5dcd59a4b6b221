package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// The driver parses every query it is handed unless the statement was
// prepared; under ACME load, parsing SQL was an eighth of the server's
// CPU. cachedDB prepares each distinct query text once per Store and
// database/sql keeps it prepared on every pooled connection it meets, so
// the store's code keeps writing plain ExecContext/QueryRowContext calls.

// maxCachedStmts bounds the cache: query texts are constants or built
// from a few optional filters, so a handful of dozens are in use; a text
// beyond the bound runs unprepared rather than growing the map.
const maxCachedStmts = 256

type cachedDB struct {
	db     *sql.DB
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	closed bool
}

func newCachedDB(db *sql.DB) *cachedDB {
	return &cachedDB{db: db, stmts: map[string]*sql.Stmt{}}
}

// prepared returns the statement for query, or nil if it cannot be
// prepared (the caller then runs the query unprepared, which reports the
// same error) or the cache is full.
func (c *cachedDB) prepared(ctx context.Context, query string) *sql.Stmt {
	c.mu.Lock()
	st, ok := c.stmts[query]
	full := len(c.stmts) >= maxCachedStmts
	c.mu.Unlock()
	if ok || full {
		return st
	}
	// Not under the lock: preparing waits for a pooled connection.
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.stmts[query]; ok { // prepared meanwhile by another caller
		st.Close()
		return prev
	}
	if c.closed {
		st.Close()
		return nil
	}
	c.stmts[query] = st
	return st
}

// inTx returns the statement for a query run in a transaction. On a miss
// the query runs unprepared this once and is prepared in the background:
// preparing needs a pooled connection, and waiting for one while holding
// the transaction's could wait forever if every other connection belongs
// to a reader waiting for this transaction.
func (c *cachedDB) inTx(query string) *sql.Stmt {
	c.mu.Lock()
	st, ok := c.stmts[query]
	c.mu.Unlock()
	if !ok {
		go c.prepared(context.Background(), query)
	}
	return st
}

func (c *cachedDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := c.prepared(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.db.ExecContext(ctx, query, args...)
}

func (c *cachedDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := c.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.db.QueryContext(ctx, query, args...)
}

func (c *cachedDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := c.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.db.QueryRowContext(ctx, query, args...)
}

func (c *cachedDB) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
}

// cachedTx is a transaction whose queries use the cached statements;
// database/sql reuses a statement already prepared on the transaction's
// connection.
type cachedTx struct {
	*sql.Tx
	c *cachedDB
}

func (t *cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.c.inTx(query); st != nil {
		return t.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t *cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.c.inTx(query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

func (t *cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.c.inTx(query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}
