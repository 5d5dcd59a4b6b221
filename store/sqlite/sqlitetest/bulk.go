// Package sqlitetest fills a vccpki SQLite file with certificate records
// for benchmarks: a million rows in seconds, in one transaction, without
// audit entries (InsertAudit adds those apart). It is for test and benchmark data only; issuance goes
// through the engine and store.Store, which audit every certificate.
package sqlitetest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/vcc/vccpki/store"
)

// InsertCertificates adds n records made by gen to the database at path,
// which sqlite.Open must have created (so that the schema is current).
// The triggers of the schema run as for any insert: the change feed gets
// one entry per record.
func InsertCertificates(ctx context.Context, path string, n int, gen func(i int) store.Certificate) error {
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
	st, err := tx.PrepareContext(ctx, `INSERT INTO certificates (serial, issuer, profile, requester, subject, names,
		not_before, not_after, der, crl_shard, revoked_at, revocation_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for i := range n {
		c := gen(i)
		names, err := json.Marshal(c.Names)
		if err != nil {
			return err
		}
		var revoked sql.NullInt64
		if !c.RevokedAt.IsZero() {
			revoked = sql.NullInt64{Int64: c.RevokedAt.UnixNano(), Valid: true}
		}
		der := c.DER
		if der == nil {
			der = []byte{}
		}
		if _, err := st.ExecContext(ctx, c.Serial, c.Issuer, c.Profile, c.Requester, c.Subject, string(names),
			c.NotBefore.UnixNano(), c.NotAfter.UnixNano(), der, c.CRLShard, revoked, c.RevocationReason); err != nil {
			return fmt.Errorf("record %d (%s): %w", i, c.Serial, err)
		}
	}
	return tx.Commit()
}

// open opens the file for bulk writes: one connection, no fsync.
func open(path string) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file://"+(&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath()+
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=cache_size(-262144)&_pragma=temp_store(MEMORY)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}
