// Package postgres is the PostgreSQL implementation of every store
// interface (store.Store, ACMEStore, ESTStore, StatusStore, TimestampStore,
// Leaser), on github.com/jackc/pgx/v5. It is what several vccpki instances
// share when one machine is not enough: everything an instance must know
// about another's work lives in the database, and every write that must be
// unique or ordered across instances is guarded there (see audit.go for the
// one hash chain, and migrations/0005 for the status change feed).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/internal/groupcommit"
	"github.com/vcc/vccpki/store/sqlstore"
)

var (
	_ store.Store          = (*Store)(nil)
	_ store.ACMEStore      = (*Store)(nil)
	_ store.ESTStore       = (*Store)(nil)
	_ store.StatusStore    = (*Store)(nil)
	_ store.TimestampStore = (*Store)(nil)
	_ store.Leaser         = (*Store)(nil)
	_ store.RekeyStore     = (*Store)(nil)
)

// ErrSchemaTooNew: the database was migrated by a newer vccpki than this one.
var ErrSchemaTooNew = errors.New("database schema is newer than this vccpki")

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is the store on one PostgreSQL database.
type Store struct {
	// The methods written once for both engines (store/sqlstore).
	*sqlstore.Store
	pool *pgxpool.Pool
	// gc batches InsertCertificate, AppendAudit and RecordTimestamp into
	// shared transactions (batch.go).
	gc      *groupcommit.Queue[*writeReq]
	commits atomic.Int64 // batch transactions committed, for tests
}

// Open connects to the database named by a postgres:// URL (or a
// key=value DSN), brings its schema up to date and returns the store. The
// pool reconnects on its own: after a failover to a promoted standby the
// next requests get new connections to whatever the URL's host now names;
// requests caught in the middle fail with an error the front ends answer
// as an internal error, and the clients retry.
func Open(ctx context.Context, url string, opts ...sqlstore.Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %s: %w", redact(url), err)
	}
	// pgxpool's default is the number of CPUs, at least 4: too few for
	// requests that wait on the network more than on the CPU. The URL's
	// pool_max_conns, if given, wins.
	if !strings.Contains(url, "pool_max_conns") && cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	// A connection is checked before use when it has been idle a while,
	// so that one a failover broke is replaced instead of failing a request.
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 15 * time.Second
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "vccpki"
	// With a multi-host URL, connect to the one that takes writes, not to
	// a standby (unless the URL says otherwise with target_session_attrs).
	if cfg.ConnConfig.ValidateConnect == nil {
		cfg.ConnConfig.ValidateConnect = pgconn.ValidateConnectTargetSessionAttrsReadWrite
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %s: %w", redact(url), err)
	}
	s := &Store{pool: pool}
	s.Store = sqlstore.New(conn{s}, dialect, sqlstore.Apply(opts).Now)
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres store: %s: %w", redact(url), err)
	}
	s.gc = groupcommit.Start(maxBatch, s.commitOrSplit, ErrClosed)
	var indexed bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'certificates_names_trgm')`).Scan(&indexed); err == nil && !indexed {
		slog.Warn("postgres store: the pg_trgm extension could not be created (migration 0016), so certificate name search scans the table; " +
			"install PostgreSQL's contrib package, CREATE EXTENSION pg_trgm as a superuser, then create the indexes of migration 0016")
	}
	return s, nil
}

// redact drops the password from a URL for error messages and logs.
func redact(url string) string {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return "(unparsable database URL)"
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// Close stops taking writes, waits until queued ones are written and
// closes the pool. Calling it again is harmless.
func (s *Store) Close() error {
	if s.gc.Close() {
		s.pool.Close()
	}
	return nil
}

// Advisory lock keys (pg_advisory_xact_lock). Arbitrary constants, spelled
// out so that an operator reading pg_locks can tell them apart.
const (
	lockMigrate int64 = 0x7663_6370_6b69_0001 // "vccpki" 1
	lockAudit   int64 = 0x7663_6370_6b69_0002 // "vccpki" 2
)

// migrate applies the missing migrations in one transaction under an
// advisory lock, so instances starting together apply each exactly once,
// and a failed migration leaves the schema as it was (PostgreSQL DDL is
// transactional).
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := sqlstore.LoadMigrations(migrationFS)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockMigrate); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			applied_at BIGINT  NOT NULL
		)`); err != nil {
			return err
		}
		var cur int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if cur > len(ms) {
			return fmt.Errorf("%w (schema version %d, this vccpki knows up to %d): upgrade vccpki before opening it",
				ErrSchemaTooNew, cur, len(ms))
		}
		for _, m := range ms[cur:] {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
				m.Version, time.Now().UnixNano()); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}

// withTx runs fn in one transaction and commits if fn succeeds. A
// transaction that failed before anything reached the server (a connection
// the pool handed out just as the server went away) is retried once on a
// fresh connection; any later failure is returned, since a commit that
// lost its connection may or may not have happened.
func withTx[T any](ctx context.Context, s *Store, fn func(pgx.Tx) (T, error)) (T, error) {
	var zero T
	for attempt := 0; ; attempt++ {
		var v T
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var err error
			v, err = fn(tx)
			return err
		})
		if err == nil {
			return v, nil
		}
		if attempt == 0 && pgconn.SafeToRetry(err) && ctx.Err() == nil {
			continue
		}
		return zero, err
	}
}

// lockAuditChain takes the audit chain's lock until the transaction ends.
// Every transaction that appends to the chain or writes certificates takes
// it first, before any other lock: one order for all, so no deadlock, and
// (with certificate_changes_last locked after it) one commit order.
func lockAuditChain(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockAudit); err != nil {
		return fmt.Errorf("lock the audit chain: %w", err)
	}
	return nil
}
