// Package sqlite is the embedded SQLite implementation of store.Store, on the
// pure-Go driver modernc.org/sqlite. One file holds the whole state; several
// processes (the server and the admin sub-commands) may open it at once.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/internal/groupcommit"
	"github.com/vcc/vccpki/store/sqlstore"
)

var _ store.Store = (*Store)(nil)

// ErrSchemaTooNew: the database was migrated by a newer vccpki than this one.
var ErrSchemaTooNew = errors.New("database schema is newer than this vccpki")

//go:embed migrations/*.sql
var migrationFS embed.FS

// dsnParams apply to every pooled connection. synchronous=FULL because a CA
// must not lose a certificate it has handed out when the power goes; busy
// waits ride out other processes holding the write lock; _txlock=immediate
// takes the write lock at BEGIN so that read-then-write transactions (the
// audit chain) never fail on a lock upgrade; temp_store=MEMORY keeps the
// sub-journal of each request's savepoint in a group commit (batch.go)
// out of a temporary file, which cost a write system call per page
// touched (rollback within a transaction only: the WAL keeps durability).
// wal_autocheckpoint(4000): the group committer's connection checkpoints
// once the WAL holds 4000 pages (16 MiB at 4 KiB pages) instead of 1000;
// the hot pages (right edges of the indexes) are rewritten many times in
// the WAL but copied to the database once per checkpoint, so under ACME
// load the database file takes 1.9 page writes per certificate instead of
// 4.3 and a quarter of the checkpoint flushes (measured on the WAL of an
// ACMELoad run, issue 19). Durability is the WAL's, unchanged.
const dsnParams = "_pragma=busy_timeout(10000)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=synchronous(FULL)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=temp_store(MEMORY)" +
	"&_pragma=wal_autocheckpoint(4000)" +
	"&_txlock=immediate"

// Store is a store.Store on one SQLite file.
type Store struct {
	// The methods written once for both engines (store/sqlstore).
	*sqlstore.Store
	db *sql.DB
	q  *cachedDB // db through statements prepared once (stmtcache.go)
	// writer admits one write transaction of this process at a time. SQLite
	// allows one writer per file anyway; queueing here instead of in SQLite's
	// busy handler, which polls with sleeps of up to 100 ms, keeps
	// concurrent issuance from paying those sleeps. Other processes still
	// meet the busy handler.
	writer chan struct{}
	// gc batches InsertCertificate and AppendAudit into shared
	// transactions; its goroutine runs from Open to Close (batch.go).
	gc      *groupcommit.Queue[*writeReq]
	commits atomic.Int64 // batch transactions committed, for tests
	// The issuance path's statements, prepared once; database/sql keeps
	// them prepared per pooled connection, which saves parsing the SQL on
	// every certificate.
	insertCert, auditTail, insertAudit *sql.Stmt
	insertToken                        *sql.Stmt // time-stamp records (tsa.go)
	// The name indexer (nameindex.go): closing indexStop ends its
	// goroutine, which then closes indexDone. Nil until Open succeeded.
	indexStop, indexDone chan struct{}
	closeOnce            sync.Once
	closeErr             error
}

// Open opens the SQLite database at path, creating it if needed, and brings
// its schema up to date. It fails if the schema is newer than this binary.
func Open(ctx context.Context, dbPath string, opts ...sqlstore.Option) (*Store, error) {
	return open(ctx, dbPath, nameIndexEvery, opts...)
}

// open is Open with the name indexer's interval; 0 runs no indexer
// goroutine (tests drive index passes themselves; Close still runs one).
func open(ctx context.Context, dbPath string, indexEvery time.Duration, opts ...sqlstore.Option) (*Store, error) {
	if dbPath == "" || dbPath == ":memory:" || strings.HasPrefix(dbPath, "file:") {
		return nil, fmt.Errorf("sqlite store: %q: need a plain file path", dbPath)
	}
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: open %s: %w", abs, err)
	}
	// Writers serialize on the file lock anyway; a few connections let
	// readers (OCSP, CRL walks) run beside one writer.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	s := &Store{db: db, q: newCachedDB(db), writer: make(chan struct{}, 1)}
	s.Store = sqlstore.New(conn{s}, dialect, sqlstore.Apply(opts).Now)
	s.gc = groupcommit.Start(maxBatch, s.commitBatch, ErrClosed)
	if err := s.init(ctx, abs); err != nil {
		s.Close()
		return nil, err
	}
	s.indexStop, s.indexDone = make(chan struct{}), make(chan struct{})
	if indexEvery > 0 {
		go s.runNameIndexer(indexEvery, s.indexStop, s.indexDone)
	} else {
		close(s.indexDone)
	}
	return s, nil
}

// dsn builds a file: URI; escaping the path keeps '?', '#' and '%' in a
// directory name from being read as URI syntax.
func dsn(abs string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows drive letter: file:///C:/...
	}
	return "file://" + (&url.URL{Path: p}).EscapedPath() + "?" + dsnParams
}

func (s *Store) init(ctx context.Context, abs string) error {
	conn, err := firstConn(ctx, s.db)
	if err != nil {
		return fmt.Errorf("sqlite store: open %s: %w", abs, err)
	}
	err = checkPragmas(ctx, conn)
	conn.Close() // back to the pool for migrate
	if err != nil {
		return fmt.Errorf("sqlite store: %s: %w", abs, err)
	}
	if err := migrate(ctx, s); err != nil {
		return fmt.Errorf("sqlite store: %s: %w", abs, err)
	}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&s.insertCert, sqlstore.InsertCertSQL},
		{&s.auditTail, sqlstore.AuditTailSQL},
		{&s.insertAudit, sqlstore.InsertAuditSQL},
		{&s.insertToken, sqlstore.InsertTokenSQL},
	} {
		if *p.stmt, err = s.db.PrepareContext(ctx, p.sql); err != nil {
			return fmt.Errorf("sqlite store: %s: prepare: %w", abs, err)
		}
	}
	return nil
}

// checkPragmas makes sure the DSN pragmas took: a database silently left
// out of WAL mode or at a weaker synchronous level would lose durability.
func checkPragmas(ctx context.Context, conn *sql.Conn) error {
	for _, c := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
	} {
		var got string
		if err := conn.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			return fmt.Errorf("read PRAGMA %s: %w", c.pragma, err)
		}
		if !strings.EqualFold(got, c.want) {
			return fmt.Errorf("PRAGMA %s is %q, want %q", c.pragma, got, c.want)
		}
	}
	return nil
}

// firstConn opens the first connection, whose DSN pragmas turn a new file
// into WAL mode. That needs an exclusive lock, and when two processes try it
// at once SQLite answers one of them SQLITE_BUSY straight away (waiting
// could deadlock) instead of calling the busy handler; so retry here, for
// about as long as busy_timeout would have waited. Once the file is in WAL
// mode, later connections do not need the exclusive lock.
func firstConn(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	deadline := time.Now().Add(10 * time.Second)
	delay := 5 * time.Millisecond
	for {
		conn, err := db.Conn(ctx)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return conn, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// Close stops taking writes (they fail with ErrClosed), waits until the
// committer has written what was already queued, moves the certificates
// queued for the name index into it (nameindex.go), and closes the
// database. Calling it again is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var idxErr error
		if s.indexStop != nil {
			close(s.indexStop)
			<-s.indexDone
		}
		s.gc.Close()
		if s.indexStop != nil {
			_, idxErr = s.indexNames(context.Background(), nil)
		}
		for _, st := range []*sql.Stmt{s.insertCert, s.auditTail, s.insertAudit, s.insertToken} {
			if st != nil {
				st.Close()
			}
		}
		s.q.close()
		s.closeErr = errors.Join(idxErr, s.db.Close())
	})
	return s.closeErr
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// schemaVersion is the highest applied migration, 0 for a new database.
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var n int
	err := q.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n)
	if err != nil || n == 0 {
		return 0, err
	}
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, err
	}
	return int(v.Int64), nil
}

func tooNew(have, known int) error {
	return fmt.Errorf("%w (schema version %d, this vccpki knows up to %d): upgrade vccpki before opening it",
		ErrSchemaTooNew, have, known)
}

// migrate applies the missing migrations, each in its own immediate
// transaction. The version is re-read under the write lock, so processes
// opening the same file at once apply every migration exactly once.
func migrate(ctx context.Context, s *Store) error {
	ms, err := sqlstore.LoadMigrations(migrationFS)
	if err != nil {
		return err
	}
	latest := len(ms)
	cur, err := schemaVersion(ctx, s.db)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if cur > latest {
		return tooNew(cur, latest)
	}
	for _, m := range ms[cur:] {
		_, err := withTx(ctx, s, func(tx *cachedTx) (struct{}, error) {
			// Scripts run once and may hold several statements: never
			// through the statement cache.
			_, err := tx.Tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version    INTEGER PRIMARY KEY,
				applied_at INTEGER NOT NULL
			) STRICT`)
			if err != nil {
				return struct{}{}, err
			}
			v, err := schemaVersion(ctx, tx)
			switch {
			case err != nil:
				return struct{}{}, err
			case v > latest:
				return struct{}{}, tooNew(v, latest)
			case v >= m.Version: // another process got there first
				return struct{}{}, nil
			}
			if _, err := tx.Tx.ExecContext(ctx, m.SQL); err != nil {
				return struct{}{}, err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
				m.Version, time.Now().UnixNano())
			return struct{}{}, err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// withTx runs fn in one write transaction (BEGIN IMMEDIATE, from the DSN)
// and commits if fn succeeds.
func withTx[T any](ctx context.Context, s *Store, fn func(*cachedTx) (T, error)) (T, error) {
	var zero T
	select {
	case s.writer <- struct{}{}:
		defer func() { <-s.writer }()
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return zero, fmt.Errorf("begin: %w", err)
	}
	// Also on a panic: a transaction left open would hold the file's write
	// lock. After Commit this is a no-op.
	defer tx.Rollback()
	v, err := fn(&cachedTx{Tx: tx, c: s.q})
	if err != nil {
		return zero, err
	}
	if err := tx.Commit(); err != nil {
		return zero, fmt.Errorf("commit: %w", err)
	}
	return v, nil
}

// dialect: SQLite's write lock, held from BEGIN IMMEDIATE, already
// serialises appends to the audit chain.
// sqlite_sequence keeps the last seq handed out, also once pruning has
// emptied the feed.
var dialect = sqlstore.Dialect{
	Name:                "sqlite store",
	IsUniqueViolation:   isUniqueViolation,
	LastStatusChangeSQL: `SELECT seq FROM sqlite_sequence WHERE name = 'certificate_changes'`,
	ILike:               "LIKE", // ASCII case-insensitive unless PRAGMA case_sensitive_like
	NameIndex:           nameIndex,
}

// nameIndex searches the FTS5 trigram table of migrations 0018 and 0022:
// a quoted phrase matches the rows containing it as a substring, ignoring
// case. A needle of fewer than three characters has no trigram: the scan
// answers. The certificates still queued for the index (migration 0023,
// nameindex.go) are few, and matched one by one: instr on lower() is a
// substring match ignoring ASCII case, as LIKE is in the scan; the FTS5
// table also folds non-ASCII case, so a needle whose non-ASCII letters
// differ only in case from the certificate's finds it once indexed but not
// while queued (at most about a second, nameIndexEvery). One statement
// reads one snapshot: a certificate moved by a concurrent pass is seen on
// exactly one side.
func nameIndex(arg func(any) string, subject, names string) string {
	if utf8.RuneCountInString(subject) < 3 {
		return ""
	}
	phrase := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	return "serial IN (SELECT serial FROM certificates_names WHERE certificates_names MATCH " +
		arg("subject : "+phrase(subject)+" OR names : "+phrase(names)) +
		" UNION ALL SELECT c.serial FROM certificates_names_pending p JOIN certificates c ON c.serial = p.serial" +
		" WHERE instr(lower(c.subject), lower(" + arg(subject) + ")) > 0" +
		" OR instr(lower(c.names), lower(" + arg(names) + ")) > 0)"
}

func sqliteCode(err error) int {
	var e *msqlite.Error
	if !errors.As(err, &e) {
		return 0
	}
	return e.Code()
}

// isBusy reports whether err is SQLITE_BUSY or one of its extended codes.
func isBusy(err error) bool { return sqliteCode(err)&0xff == sqlite3.SQLITE_BUSY }

// isUniqueViolation reports whether err is SQLite refusing a duplicate key.
func isUniqueViolation(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || c == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}
