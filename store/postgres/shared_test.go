package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/postgres/pgtest"
	"github.com/vcc/vccpki/store/sqlstore"
	"github.com/vcc/vccpki/store/storetest"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

func ev(action, object string) store.AuditEvent {
	return store.AuditEvent{Actor: "system", Action: action, Object: object, Result: "ok"}
}

// handles opens n stores on one new database, as n instances would.
func handles(t *testing.T, n int) []*Store {
	u := srv.Database(t)
	out := make([]*Store, n)
	for i := range out {
		out[i] = openURL(t, u)
	}
	return out
}

// TestSharedAuditChain has three instances issue, revoke and audit at
// once: the one chain they share has every entry, in one unbroken line.
func TestSharedAuditChain(t *testing.T) {
	hs := handles(t, 3)
	const perWorker, workersPerHandle = 30, 4
	var wg sync.WaitGroup
	errs := make(chan error, len(hs)*workersPerHandle*perWorker*3)
	for h, s := range hs {
		for w := range workersPerHandle {
			wg.Go(func() {
				for i := range perWorker {
					serial := storetest.Serial((h*workersPerHandle+w)*perWorker + i)
					c := storetest.Cert(serial, "services", "argus", t0, t0.Add(time.Hour))
					if err := s.InsertCertificate(t.Context(), c, ev("issue", serial)); err != nil {
						errs <- err
						continue
					}
					if i%3 == 0 {
						if err := s.Revoke(t.Context(), serial, t0.Add(time.Minute), 1, ev("revoke", serial)); err != nil {
							errs <- err
						}
					}
					if err := s.AppendAudit(t.Context(), ev("note", serial)); err != nil {
						errs <- err
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total := len(hs) * workersPerHandle * perWorker
	want := int64(total*2 + total/3)
	n, err := store.VerifyAudit(t.Context(), hs[0])
	if err != nil || n != want {
		t.Fatalf("VerifyAudit = %d, %v; want %d entries and an intact chain", n, err, want)
	}
	var commits int64
	for _, s := range hs {
		commits += s.commits.Load()
	}
	t.Logf("%d grouped writes in %d group commits", total*2, commits)
}

// TestStatusFeedMissesNothing follows the change feed while three
// instances write: a follower that passes the last seq it got must see
// every issuance and revocation, whatever order the writers commit in.
func TestStatusFeedMissesNothing(t *testing.T) {
	hs := handles(t, 3)
	const each = 60
	ctx, cancel := context.WithCancel(t.Context())
	seen := map[string]int{}
	var cursor int64
	follow := func() error {
		for {
			chs, err := hs[0].StatusChanges(t.Context(), cursor, 50)
			if err != nil {
				return err
			}
			for _, ch := range chs {
				if ch.Seq <= cursor {
					return fmt.Errorf("seq %d after cursor %d", ch.Seq, cursor)
				}
				seen[ch.Serial]++
				cursor = ch.Seq
			}
			if len(chs) < 50 {
				return nil
			}
		}
	}
	done := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := follow(); err != nil {
				done <- err
				return
			}
		}
		done <- follow() // what committed before the writers stopped
	}()
	var wg sync.WaitGroup
	for h, s := range hs {
		for w := range 2 {
			wg.Go(func() {
				for i := range each {
					serial := storetest.Serial((h*2+w)*each + i)
					c := storetest.Cert(serial, "services", "argus", t0, t0.Add(time.Hour))
					if err := s.InsertCertificate(t.Context(), c, ev("issue", serial)); err != nil {
						t.Error(err)
						return
					}
					if i%2 == 0 {
						if err := s.Revoke(t.Context(), serial, t0, 0, ev("revoke", serial)); err != nil {
							t.Error(err)
						}
					}
				}
			})
		}
	}
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	total := len(hs) * 2 * each
	if len(seen) != total {
		t.Fatalf("the follower saw %d of %d certificates", len(seen), total)
	}
	for serial, n := range seen {
		if n < 1 || n > 2 {
			t.Errorf("%s: %d changes", serial, n)
		}
	}
	last, err := hs[1].LastStatusChange(t.Context())
	if err != nil || last != cursor {
		t.Errorf("LastStatusChange = %d, %v; the follower ended at %d", last, err, cursor)
	}
}

// TestMigrationsOnceConcurrently opens four stores on an empty database at
// once: each migration is applied exactly once.
func TestMigrationsOnceConcurrently(t *testing.T) {
	u := srv.Database(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := Open(t.Context(), u)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s := openURL(t, u)
	ms, _ := sqlstore.LoadMigrations(migrationFS)
	var n, max int
	if err := s.pool.QueryRow(t.Context(), `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || max != len(ms) {
		t.Fatalf("schema_migrations: %d rows up to %d, want %d", n, max, len(ms))
	}
	// A database migrated by a newer vccpki is refused, not touched.
	if _, err := s.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	if s2, err := Open(t.Context(), u); !errors.Is(err, ErrSchemaTooNew) {
		if s2 != nil {
			s2.Close()
		}
		t.Fatalf("Open of a newer schema: %v, want ErrSchemaTooNew", err)
	}
}

// TestAuditAppendOnly: the triggers refuse to rewrite the log through SQL.
func TestAuditAppendOnly(t *testing.T) {
	s := openNew(t)
	if err := s.AppendAudit(t.Context(), ev("note", "x")); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE audit_log SET actor = 'mallory'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`} {
		if _, err := s.pool.Exec(t.Context(), q); err == nil {
			t.Errorf("%s succeeded", q)
		}
	}
}

// TestReconnectAfterServerRestart kills the database server under a store
// and starts it again (as after a failover to a copy at the same address):
// the store serves again without being reopened, and the failures in
// between are errors, not hangs or panics.
func TestReconnectAfterServerRestart(t *testing.T) {
	// synchronous_commit on: an immediate shutdown must not lose commits
	// the store was told of (the harness turns it off for speed).
	own, err := pgtest.Start(pgtest.Options{Settings: []string{"synchronous_commit=on"}})
	if err != nil {
		t.Fatal(err)
	}
	defer own.Stop()
	s := openURL(t, own.Database(t))
	c := storetest.Cert(storetest.Serial(1), "services", "argus", t0, t0.Add(time.Hour))
	if err := s.InsertCertificate(t.Context(), c, ev("issue", c.Serial)); err != nil {
		t.Fatal(err)
	}
	own.Kill()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	if _, err := s.Certificate(ctx, c.Serial); err == nil {
		t.Error("a read with the server down succeeded")
	}
	cancel()
	if err := own.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c2 := storetest.Cert(storetest.Serial(2), "services", "argus", t0, t0.Add(time.Hour))
		err := s.InsertCertificate(t.Context(), c2, ev("issue", c2.Serial))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write within 30s of the restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n, err := store.VerifyAudit(t.Context(), s); err != nil || n != 2 {
		t.Fatalf("after reconnecting: VerifyAudit = %d, %v", n, err)
	}
}
