package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vcc/vccpki/est"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/postgres"
	"github.com/vcc/vccpki/store/sqlite"
)

// storeConfig validates the configuration's store field: empty (or
// "sqlite") for the embedded SQLite file DATA/vccpki.db, or a PostgreSQL
// URL, which several instances share (docs/postgres.md). The password
// belongs in $PGPASSWORD or ~/.pgpass, not in the file; the URL may
// carry it, and it is never logged.
func storeConfig(v string) (string, error) {
	switch {
	case v == "" || v == "sqlite":
		return "", nil
	case strings.HasPrefix(v, "postgres://") || strings.HasPrefix(v, "postgresql://"):
		return v, nil
	}
	return "", fmt.Errorf("field store: %q is neither empty (SQLite in the data directory) nor a postgres:// URL", redactURL(v))
}

// redactURL hides a password in a URL-like string.
func redactURL(v string) string {
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok {
		return v
	}
	cred, host, ok := strings.Cut(rest, "@")
	if !ok {
		return v
	}
	user, _, _ := strings.Cut(cred, ":")
	return scheme + "://" + user + "@" + host
}

// openStore opens the configured store: PostgreSQL when cfg.store names
// one, else the SQLite file in the data directory.
func openStore(ctx context.Context, cfg *config) (store.Store, error) {
	if cfg.store != "" {
		return postgres.Open(ctx, cfg.store)
	}
	dbPath := filepath.Join(cfg.data, "vccpki.db")
	// The store holds sealed keys and the audit log: readable by the owner
	// only. SQLite gives its -wal and -shm files the same mode.
	if f, err := os.OpenFile(dbPath, os.O_CREATE|os.O_RDONLY, 0o600); err == nil {
		f.Close()
	}
	return sqlite.Open(ctx, dbPath)
}

// sharedOCSP returns the store's shared pre-signed OCSP responses and
// CRLs when several instances may share the store (PostgreSQL), so that
// each is signed about once between them; nils on SQLite, where one server
// signs for itself and storing all of it would only cost writes.
func sharedOCSP(a *app) (store.SharedOCSPStore, store.SharedCRLStore) {
	if a.cfg.store == "" {
		return nil, nil
	}
	return a.store, a.store
}

// estLimits are the EST failed-login limits: counted together in the store
// when several instances may share it (PostgreSQL), with the buckets
// pruned by one instance at a time (the returned work, nil on SQLite);
// counted per process on SQLite.
func estLimits(a *app) (est.Limits, func(context.Context)) {
	f := a.store
	if a.cfg.store == "" {
		return est.Limits{}, nil
	}
	return est.Limits{Shared: f}, func(ctx context.Context) {
		runLeased(ctx, a, "est.prune-auth-failures", func(ctx context.Context) {
			t := time.NewTicker(time.Hour)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					// A bucket untouched for a day is full again under any
					// sane limit: forgetting it changes nothing.
					if _, err := f.PruneAuthFailures(ctx, time.Now().Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
						a.log.Warn("pruning EST failure counts", "err", err)
					}
				}
			}
		})
	}
}
