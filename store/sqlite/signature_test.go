package sqlite

import (
	"testing"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/storetest"
)

func TestSignaturesContract(t *testing.T) {
	storetest.RunSignatures(t, func(t *testing.T) store.Store { return openAt(t, tempDB(t)) })
}
