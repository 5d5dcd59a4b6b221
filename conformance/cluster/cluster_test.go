package cluster

import (
	"os"
	"testing"

	"github.com/vcc/vccpki/conformance/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
