package postgres

import (
	"context"
	"os"
	"testing"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/postgres/pgtest"
	"github.com/vcc/vccpki/store/storetest"
)

// srv is the one PostgreSQL server of this package's tests; every store a
// test opens gets a database of its own on it.
var srv *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &srv)) }

func openURL(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openNew(t testing.TB) *Store { return openURL(t, srv.Database(t)) }

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openNew(t) })
}

func TestACMEContract(t *testing.T) {
	storetest.RunACME(t, func(t *testing.T) storetest.ACMEStore { return openNew(t) })
}

func TestESTContract(t *testing.T) {
	storetest.RunEST(t, func(t *testing.T) storetest.ESTStore { return openNew(t) })
}

func TestStatusContract(t *testing.T) {
	storetest.RunStatus(t, func(t *testing.T) storetest.StatusTestStore { return openNew(t) })
}

func TestTimestampContract(t *testing.T) {
	urls := map[store.TimestampStore]string{}
	storetest.RunTimestamps(t,
		func(t *testing.T) store.TimestampStore {
			u := srv.Database(t)
			s := openURL(t, u)
			urls[s] = u
			return s
		},
		func(t *testing.T, s store.TimestampStore) store.TimestampStore { return openURL(t, urls[s]) })
}

func TestLeaseContract(t *testing.T) {
	urls := map[store.Leaser]string{}
	storetest.RunLease(t,
		func(t *testing.T) store.Leaser {
			u := srv.Database(t)
			s := openURL(t, u)
			urls[s] = u
			return s
		},
		func(t *testing.T, s store.Leaser) store.Leaser { return openURL(t, urls[s]) })
}

func TestApprovalsContract(t *testing.T) {
	storetest.RunApprovals(t, func(t *testing.T) store.Store { return openNew(t) })
}

func TestRekeyContract(t *testing.T) {
	storetest.RunRekey(t, func(t *testing.T) storetest.RekeyStore { return openNew(t) })
}

func TestSharedOCSPContract(t *testing.T) {
	storetest.RunSharedOCSP(t, func(t *testing.T) store.SharedOCSPStore { return openNew(t) })
}

func TestSharedCRLContract(t *testing.T) {
	storetest.RunSharedCRL(t, func(t *testing.T) store.SharedCRLStore { return openNew(t) })
}

func TestAuthFailuresContract(t *testing.T) {
	urls := map[store.AuthFailureStore]string{}
	storetest.RunAuthFailures(t,
		func(t *testing.T) store.AuthFailureStore {
			u := srv.Database(t)
			s := openURL(t, u)
			urls[s] = u
			return s
		},
		func(t *testing.T, s store.AuthFailureStore) store.AuthFailureStore { return openURL(t, urls[s]) })
}

func TestSignaturesContract(t *testing.T) {
	storetest.RunSignatures(t, func(t *testing.T) store.Store { return openNew(t) })
}

func TestOrganisations(t *testing.T) {
	storetest.RunOrganisations(t, func(t *testing.T) store.Store { return openNew(t) })
}
