package sqlite

import (
	"testing"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/storetest"
)

func TestApprovalsContract(t *testing.T) {
	storetest.RunApprovals(t, func(t *testing.T) store.Store { return openAt(t, tempDB(t)) })
}
