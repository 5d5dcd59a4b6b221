package harness

import (
	"testing"

	"github.com/vcc/vccpki/internal/testtool"
)

// Tool returns the path of a command-line tool, or fails the test at once
// with the apt-get command that installs it: a conformance test never
// skips. Call it in the first lines of a test, before anything slow.
func Tool(t testing.TB, name string) string {
	t.Helper()
	return testtool.Need(t, name)
}
