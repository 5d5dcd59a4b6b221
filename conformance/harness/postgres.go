package harness

import (
	"sync"
	"testing"

	"github.com/vcc/vccpki/store/postgres/pgtest"
)

// One throwaway PostgreSQL per test binary, started by the first test that
// needs it and stopped by Main.
var (
	pgOnce sync.Once
	pgSrv  *pgtest.Server
	pgErr  error
)

// Postgres returns the package's throwaway PostgreSQL server.
func Postgres(t testing.TB) *pgtest.Server {
	t.Helper()
	pgOnce.Do(func() { pgSrv, pgErr = pgtest.Start(pgtest.Options{}) })
	if pgErr != nil {
		t.Fatalf("starting PostgreSQL: %v", pgErr)
	}
	return pgSrv
}

// Main runs the package's tests and stops what they shared; a package
// that uses Postgres has `func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }`.
func Main(m *testing.M) int {
	code := m.Run()
	if pgSrv != nil {
		pgSrv.Stop()
	}
	return code
}
