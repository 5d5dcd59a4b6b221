package sqlite

import (
	"testing"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/storetest"
)

func TestSharedOCSPContract(t *testing.T) {
	storetest.RunSharedOCSP(t, func(t *testing.T) store.SharedOCSPStore { return openAt(t, tempDB(t)) })
}

func TestSharedCRLContract(t *testing.T) {
	storetest.RunSharedCRL(t, func(t *testing.T) store.SharedCRLStore { return openAt(t, tempDB(t)) })
}
