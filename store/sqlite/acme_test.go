package sqlite

import (
	"testing"

	"github.com/vcc/vccpki/store/storetest"
)

func TestACMEContract(t *testing.T) {
	storetest.RunACME(t, func(t *testing.T) storetest.ACMEStore { return openAt(t, tempDB(t)) })
}
