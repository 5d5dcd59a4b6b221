package sqlite

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlstore"
	"github.com/vcc/vccpki/store/storetest"
)

// openNoIndexer opens path with no indexer goroutine: only the test's own
// index passes, and Close, move queued certificates into the index.
func openNoIndexer(t testing.TB, path string) *Store {
	t.Helper()
	s, err := open(context.Background(), path, 0)
	if err != nil {
		t.Fatalf("open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// nameIndexState counts serial's rows in the queue and in the FTS5 table.
func nameIndexState(t *testing.T, s *Store, serial string) (queued, indexed int) {
	t.Helper()
	if err := s.db.QueryRowContext(t.Context(),
		`SELECT (SELECT count(*) FROM certificates_names_pending WHERE serial = ?1),
		        (SELECT count(*) FROM certificates_names WHERE serial = ?1)`, serial).Scan(&queued, &indexed); err != nil {
		t.Fatal(err)
	}
	return queued, indexed
}

// TestNameIndexQueue: a certificate is found by name while it waits in the
// queue and after an index pass, a close or another process's pass has
// moved it; it is then indexed exactly once and no longer queued.
func TestNameIndexQueue(t *testing.T) {
	tests := []struct {
		name string
		// insertByOther: a second store on the same file (another process,
		// such as the CLI) inserts the certificate and stays open.
		insertByOther bool
		// then runs after the insert and returns the store to search and
		// how many queued rows the test's own passes moved.
		then                  func(t *testing.T, s *Store, path string) (*Store, int64)
		wantMoved             int64 // by the test's own pass (-1: none ran)
		wantQueued, wantIndex int
	}{
		{"right after insert", false, nil, -1, 1, 0},
		{"inserted by another process, before any pass", true, nil, -1, 1, 0},
		{"after an index pass", false, pass, 1, 0, 1},
		{"inserted by another process, after this one's pass", true, pass, 1, 0, 1},
		{"after Close and reopen", false, reopen, -1, 0, 1},
		{"a second pass finds nothing", false, func(t *testing.T, s *Store, path string) (*Store, int64) {
			pass(t, s, path)
			return pass(t, s, path)
		}, 0, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tempDB(t)
			s := openNoIndexer(t, path)
			by := s
			if tc.insertByOther {
				by = openNoIndexer(t, path)
			}
			c := storetest.Cert("5a", "services", "argus", t0, t0.Add(time.Hour))
			c.Subject, c.Names = "Alpha Gateway", []string{"api.alpha.example.test"}
			if err := by.InsertCertificate(t.Context(), c, ok); err != nil {
				t.Fatal(err)
			}
			moved := int64(-1)
			if tc.then != nil {
				s, moved = tc.then(t, s, path)
			}
			if moved != tc.wantMoved {
				t.Errorf("index pass moved %d, want %d", moved, tc.wantMoved)
			}
			if q, i := nameIndexState(t, s, c.Serial); q != tc.wantQueued || i != tc.wantIndex {
				t.Errorf("queued %d, indexed %d; want %d, %d", q, i, tc.wantQueued, tc.wantIndex)
			}
			for _, needle := range []string{"lpha.exa", "ALPHA GATE", "a.example.test"} {
				got, err := s.Certificates(t.Context(), store.CertFilter{Name: needle})
				if err != nil {
					t.Fatal(err)
				}
				if want := []string{c.Serial}; !slices.Equal(serialsOf(got), want) {
					t.Errorf("name %q: %v, want %v", needle, serialsOf(got), want)
				}
			}
			for _, needle := range []string{"Gatewayapi", "beta.exa"} {
				got, err := s.Certificates(t.Context(), store.CertFilter{Name: needle})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 0 {
					t.Errorf("name %q: %v, want none", needle, serialsOf(got))
				}
			}
		})
	}
}

// pass runs one index pass on s.
func pass(t *testing.T, s *Store, _ string) (*Store, int64) {
	n, err := s.indexNames(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, n
}

// reopen closes s, whose Close runs the last pass, and opens path again.
func reopen(t *testing.T, s *Store, path string) (*Store, int64) {
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return openNoIndexer(t, path), -1
}

func serialsOf(cs []store.Certificate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Serial)
	}
	return out
}

// TestNameIndexBatches: a pass moves a queue longer than one batch, in
// several transactions, and leaves it empty; each certificate is indexed
// once.
func TestNameIndexBatches(t *testing.T) {
	tests := []struct {
		name string
		n    int
	}{
		{"one short batch", 3},
		{"exactly one batch", nameIndexBatch},
		{"two batches and one row", 2*nameIndexBatch + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openNoIndexer(t, tempDB(t))
			// One transaction for all: the group commit would take a
			// flush per few certificates.
			_, err := withTx(t.Context(), s, func(tx *cachedTx) (struct{}, error) {
				for i := range tc.n {
					args, err := sqlstore.CertArgs(storetest.Cert(storetest.Serial(i), "services", "argus", t0, t0.Add(time.Hour)))
					if err != nil {
						return struct{}{}, err
					}
					if _, err := tx.ExecContext(t.Context(), sqlstore.InsertCertSQL, args...); err != nil {
						return struct{}{}, err
					}
				}
				return struct{}{}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			n, err := s.indexNames(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(tc.n) {
				t.Errorf("pass moved %d, want %d", n, tc.n)
			}
			var queued, indexed, distinct int
			if err := s.db.QueryRowContext(t.Context(),
				`SELECT (SELECT count(*) FROM certificates_names_pending),
				        (SELECT count(*) FROM certificates_names),
				        (SELECT count(DISTINCT serial) FROM certificates_names)`).Scan(&queued, &indexed, &distinct); err != nil {
				t.Fatal(err)
			}
			if queued != 0 || indexed != tc.n || distinct != tc.n {
				t.Errorf("queued %d, indexed %d (%d distinct); want 0, %d", queued, indexed, distinct, tc.n)
			}
		})
	}
}

// TestNameIndexUpgrade: in a database from before the queue, whose
// certificates the insert trigger indexed at once, they stay found and
// are not queued; a certificate inserted after the upgrade is queued and
// found as well.
func TestNameIndexUpgrade(t *testing.T) {
	path := tempDB(t)
	db, exec := schemaBefore(t, path, "0023_name_index_batched.sql")
	old := storetest.Cert("6a", "services", "argus", t0, t0.Add(time.Hour))
	old.Subject = "Old Gateway"
	args, err := sqlstore.CertArgs(old)
	if err != nil {
		t.Fatal(err)
	}
	exec(sqlstore.InsertCertSQL, args...)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := openNoIndexer(t, path)
	c := storetest.Cert("6b", "services", "argus", t0, t0.Add(time.Hour))
	c.Subject = "New Gateway"
	if err := s.InsertCertificate(t.Context(), c, ok); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, serial, needle  string
		wantQueued, wantIndex int
	}{
		{"indexed before the upgrade", old.Serial, "old gate", 0, 1},
		{"queued after the upgrade", c.Serial, "new gate", 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if q, i := nameIndexState(t, s, tc.serial); q != tc.wantQueued || i != tc.wantIndex {
				t.Errorf("queued %d, indexed %d; want %d, %d", q, i, tc.wantQueued, tc.wantIndex)
			}
			got, err := s.Certificates(t.Context(), store.CertFilter{Name: tc.needle})
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{tc.serial}; !slices.Equal(serialsOf(got), want) {
				t.Errorf("name %q: %v, want %v", tc.needle, serialsOf(got), want)
			}
		})
	}
}
