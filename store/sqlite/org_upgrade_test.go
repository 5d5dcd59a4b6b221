package sqlite

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlstore"
)

// TestOrganisationsUpgrade: a database at the schema before organisations,
// holding an audit entry, an EAB key, an EST user and an account, opens
// with everything the operator's and its audit chain intact.
func TestOrganisationsUpgrade(t *testing.T) {
	ctx := context.Background()
	path := tempDB(t)
	db, exec := schemaBefore(t, path, "0019_organisations.sql")
	ev := store.AuditEvent{Time: time.Unix(1700000000, 0).UTC(), Actor: "operator:old", Action: "acme.eab.create", Object: "kid-old", Result: "ok"}
	exec(`INSERT INTO audit_log (seq, time, actor, action, object, result, prev_hash, hash) VALUES (1, ?, ?, ?, ?, ?, ?, ?)`,
		ev.Time.UnixNano(), ev.Actor, ev.Action, ev.Object, ev.Result, store.ZeroHash, store.ChainHash(1, store.ZeroHash, ev))
	exec(`INSERT INTO acme_eab_keys (key_id, hmac, service, created_at, account_id) VALUES ('kid-old', x'00', 'argus', 1, 'acct-old')`)
	exec(`INSERT INTO acme_accounts (id, thumbprint, jwk, status, contact, eab_key_id, service, created_at) VALUES ('acct-old', 'tp', x'7b7d', 'valid', '[]', 'kid-old', 'argus', 1)`)
	exec(`INSERT INTO est_users (user_name, service, hash, created_at) VALUES ('dev-old', 'argus', 'h', 1)`)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openAt(t, path)
	if n, err := store.VerifyAudit(ctx, s); err != nil || n != 1 {
		t.Errorf("VerifyAudit after the upgrade = %d, %v; want the old entry to verify", n, err)
	}
	var orgs []string
	_ = s.AuditEntries(ctx, store.AuditFilter{Org: store.OperatorOrg}, func(e store.AuditEntry) error { orgs = append(orgs, e.Org); return nil })
	if len(orgs) != 1 {
		t.Errorf("the operator's audit entries after the upgrade: %v; want the old one", orgs)
	}
	if k, err := s.EABKey(ctx, "kid-old"); err != nil || k.Org != store.OperatorOrg {
		t.Errorf("old EAB key: org %q, %v", k.Org, err)
	}
	if a, err := s.Account(ctx, "acct-old"); err != nil || a.Org != store.OperatorOrg {
		t.Errorf("old account: org %q, %v", a.Org, err)
	}
	if u, err := s.ESTUser(ctx, "dev-old"); err != nil || u.Org != store.OperatorOrg {
		t.Errorf("old EST user: org %q, %v", u.Org, err)
	}
	if o, err := s.Organisation(ctx, store.OperatorOrg); err != nil || o.CreatedBy != "migration" {
		t.Errorf("operator organisation: %+v, %v", o, err)
	}
	// New entries chain on the old ones.
	if err := s.AppendAudit(ctx, store.AuditEvent{Actor: "x", Action: "y", Object: "z", Result: "ok", Org: "akme"}); err != nil {
		t.Fatal(err)
	}
	if n, err := store.VerifyAudit(ctx, s); err != nil || n != 2 {
		t.Errorf("VerifyAudit = %d, %v", n, err)
	}
}

// schemaBefore creates a database at path with the migrations before the
// one named applied, as an older vccpki left it, and returns it open with
// a statement runner that fails the test on error.
func schemaBefore(t *testing.T, path, name string) (*sql.DB, func(q string, args ...any)) {
	t.Helper()
	ms, err := sqlstore.LoadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	before := -1
	for i, m := range ms {
		if m.Name == name {
			before = i
		}
	}
	if before < 0 {
		t.Fatalf("no migration %s", name)
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`)
	for _, m := range ms[:before] {
		exec(m.SQL)
		exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.Version, 1)
	}
	return db, exec
}
