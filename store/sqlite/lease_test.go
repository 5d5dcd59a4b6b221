package sqlite

import (
	"testing"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/storetest"
)

func TestLeaseContract(t *testing.T) {
	paths := map[store.Leaser]string{}
	storetest.RunLease(t,
		func(t *testing.T) store.Leaser {
			path := tempDB(t)
			s := openAt(t, path)
			paths[s] = path
			return s
		},
		func(t *testing.T, s store.Leaser) store.Leaser { return openAt(t, paths[s]) })
}

func TestAuthFailuresContract(t *testing.T) {
	paths := map[store.AuthFailureStore]string{}
	storetest.RunAuthFailures(t,
		func(t *testing.T) store.AuthFailureStore {
			path := tempDB(t)
			s := openAt(t, path)
			paths[s] = path
			return s
		},
		func(t *testing.T, s store.AuthFailureStore) store.AuthFailureStore { return openAt(t, paths[s]) })
}
