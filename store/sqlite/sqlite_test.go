package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlstore"
	"github.com/vcc/vccpki/store/storetest"
)

func openAt(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func tempDB(t testing.TB) string { return filepath.Join(t.TempDir(), "ca.db") }

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openAt(t, tempDB(t)) })
}

var (
	t0 = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	ok = store.AuditEvent{Actor: "system", Action: "test", Result: "ok"}
)

func TestPragmas(t *testing.T) {
	s := openAt(t, tempDB(t))
	// Every pooled connection, not just the first, must carry the pragmas.
	conns := make([]*sql.Conn, 4)
	for i := range conns {
		c, err := s.db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	for i, c := range conns {
		for pragma, want := range map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "10000", "wal_autocheckpoint": "4000"} {
			var got string
			if err := c.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("connection %d: PRAGMA %s = %q, want %q", i, pragma, got, want)
			}
		}
	}
}

func TestOpenOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?with #odd %20chars")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ca.db")
	openAt(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not created at the given path: %v", err)
	}
	for _, bad := range []string{"", ":memory:", "file:x.db", filepath.Join(t.TempDir(), "missing", "ca.db")} {
		if s, err := Open(t.Context(), bad); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

func TestReopen(t *testing.T) {
	path := tempDB(t)
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	c := storetest.Cert("0abc", "services", "argus", t0, t0.Add(time.Hour))
	if err := s.InsertCertificate(t.Context(), c, ok); err != nil {
		t.Fatal(err)
	}
	if n, err := s.NextCRLNumber(t.Context(), "services"); err != nil || n != 1 {
		t.Fatalf("NextCRLNumber = %d, %v", n, err)
	}
	s.Close()

	s = openAt(t, path)
	got, err := s.Certificate(t.Context(), c.Serial)
	if err != nil || !got.NotAfter.Equal(c.NotAfter) || got.NotAfter.Location() != time.UTC {
		t.Fatalf("after reopen: Certificate = %+v, %v", got, err)
	}
	if n, err := s.NextCRLNumber(t.Context(), "services"); err != nil || n != 2 {
		t.Fatalf("after reopen: NextCRLNumber = %d, %v, want 2", n, err)
	}
	if n, err := store.VerifyAudit(t.Context(), s); err != nil || n != 1 {
		t.Fatalf("after reopen: VerifyAudit = %d, %v", n, err)
	}
	checkMigrationsOnce(t, path)
}

// checkMigrationsOnce asserts schema_migrations holds each version once.
func checkMigrationsOnce(t *testing.T, path string) {
	t.Helper()
	ms, err := sqlstore.LoadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	var versions []int
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if len(versions) != len(ms) || len(ms) == 0 || versions[len(versions)-1] != len(ms) {
		t.Errorf("schema_migrations = %v, want 1..%d once each", versions, len(ms))
	}
}

func TestOpenConcurrent(t *testing.T) {
	path := tempDB(t)
	const n = 6
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), path) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	for i, s := range stores {
		c := storetest.Cert(storetest.Serial(i), "services", "argus", t0, t0.Add(time.Hour))
		if err := s.InsertCertificate(t.Context(), c, ok); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := store.VerifyAudit(t.Context(), stores[0]); err != nil || n != int64(len(stores)) {
		t.Fatalf("VerifyAudit = %d, %v", n, err)
	}
	checkMigrationsOnce(t, path)
}

// TestOpenConcurrentProcesses starts several copies of the test binary that
// open one new file at the same moment, then write to it side by side.
func TestOpenConcurrentProcesses(t *testing.T) {
	path := tempDB(t)
	const procs, each = 4, 20
	start := time.Now().Add(500 * time.Millisecond).UnixNano()
	cmds := make([]*exec.Cmd, procs)
	outs := make([]*strings.Builder, procs)
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "VCCPKI_SQLITE_HELPER_DB="+path,
			fmt.Sprintf("VCCPKI_SQLITE_HELPER=%d,%d,%d", i, each, start))
		outs[i] = &strings.Builder{}
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	var crl []int64
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper %d: %v\n%s", i, err, outs[i])
		}
		for line := range strings.Lines(outs[i].String()) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "crl="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				crl = append(crl, n)
			}
		}
	}
	s := openAt(t, path)
	certs, err := s.Certificates(t.Context(), store.CertFilter{})
	if err != nil || len(certs) != procs*each {
		t.Fatalf("Certificates: %d, %v; want %d", len(certs), err, procs*each)
	}
	if n, err := store.VerifyAudit(t.Context(), s); err != nil || n != procs*each {
		t.Fatalf("VerifyAudit = %d, %v; want %d", n, err, procs*each)
	}
	slices.Sort(crl)
	for i, n := range crl {
		if n != int64(i+1) {
			t.Fatalf("CRL numbers across processes: %v", crl)
		}
	}
	if len(crl) != procs*each {
		t.Fatalf("got %d CRL numbers from helpers, want %d", len(crl), procs*each)
	}
	checkMigrationsOnce(t, path)
}

func TestHelperProcess(t *testing.T) {
	path, spec := os.Getenv("VCCPKI_SQLITE_HELPER_DB"), os.Getenv("VCCPKI_SQLITE_HELPER")
	if path == "" {
		return // only a child process of TestOpenConcurrentProcesses does work here
	}
	var id, each int
	var start int64
	if _, err := fmt.Sscanf(spec, "%d,%d,%d", &id, &each, &start); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(time.Unix(0, start)))
	s := openAt(t, path)
	for i := range each {
		c := storetest.Cert(storetest.Serial(id*1000+i), "services", "argus", t0, t0.Add(time.Hour))
		if err := s.InsertCertificate(t.Context(), c, ok); err != nil {
			t.Fatal(err)
		}
		n, err := s.NextCRLNumber(t.Context(), "services")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("crl=%d\n", n)
	}
}

func TestFutureSchema(t *testing.T) {
	path := tempDB(t)
	s := openAt(t, path)
	s.Close()
	if _, err := rawDB(t, path).Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), path)
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "9999") {
		t.Fatalf("Open of a database from the future: %v, want ErrSchemaTooNew naming version 9999", err)
	}
	t.Log(err)
}

func TestMalformedSerial(t *testing.T) {
	s := openAt(t, tempDB(t))
	for _, serial := range []string{"", "abc", "0A0B", "00ff", "0x12", "12 34"} {
		c := storetest.Cert("0a", "services", "argus", t0, t0.Add(time.Hour))
		c.Serial = serial
		if err := s.InsertCertificate(t.Context(), c, ok); err == nil {
			t.Errorf("InsertCertificate(serial %q) succeeded", serial)
		}
	}
	if n, err := store.VerifyAudit(t.Context(), s); err != nil || n != 0 {
		t.Errorf("refused inserts left audit entries: %d, %v", n, err)
	}
}

func TestTimeOutOfRange(t *testing.T) {
	s := openAt(t, tempDB(t))
	// RFC 5280's "no well-defined expiration" date does not fit in int64 nanoseconds.
	c := storetest.Cert("0a", "services", "argus", t0, time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC))
	if err := s.InsertCertificate(t.Context(), c, ok); err == nil || !strings.Contains(err.Error(), "range") {
		t.Errorf("InsertCertificate with NotAfter in 9999: %v, want a range error", err)
	}
	if _, err := s.Certificate(t.Context(), "0a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused certificate stored anyway: %v", err)
	}
}

func BenchmarkInsertCertificate(b *testing.B) {
	der := storetest.DER(1024)
	var next atomic.Int64
	insert := func(s *Store) error {
		i := next.Add(1)
		c := storetest.Cert(storetest.Serial(int(i)), "services", "argus", t0, t0.Add(90*24*time.Hour))
		c.DER = der
		ev := store.AuditEvent{Actor: "acme:https://ca/acct/1", Action: "issue", Object: c.Serial, Result: "ok"}
		return s.InsertCertificate(context.Background(), c, ev)
	}
	b.Run("sequential", func(b *testing.B) {
		s := openAt(b, tempDB(b))
		for b.Loop() {
			if err := insert(s); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inserts/s")
	})
	// parallel runs GOMAXPROCS clients; parallel16 runs 16 per P, closer to
	// issuance with many concurrent ACME clients.
	for _, p := range []struct {
		name string
		per  int
	}{{"parallel", 1}, {"parallel16", 16}} {
		b.Run(p.name, func(b *testing.B) {
			s := openAt(b, tempDB(b))
			b.SetParallelism(p.per)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := insert(s); err != nil {
						b.Error(err) // not Fatal: this is not the benchmark's goroutine
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inserts/s")
		})
	}
}

func TestOrganisations(t *testing.T) {
	storetest.RunOrganisations(t, func(t *testing.T) store.Store { return openAt(t, tempDB(t)) })
}
