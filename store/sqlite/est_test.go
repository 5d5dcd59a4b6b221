package sqlite

import (
	"testing"

	"github.com/vcc/vccpki/store/storetest"
)

func TestESTContract(t *testing.T) {
	storetest.RunEST(t, func(t *testing.T) storetest.ESTStore { return openAt(t, tempDB(t)) })
}
