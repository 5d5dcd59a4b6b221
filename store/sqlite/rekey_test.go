package sqlite

import (
	"testing"

	"github.com/vcc/vccpki/store/storetest"
)

func TestRekeyContract(t *testing.T) {
	storetest.RunRekey(t, func(t *testing.T) storetest.RekeyStore { return openAt(t, tempDB(t)) })
}
