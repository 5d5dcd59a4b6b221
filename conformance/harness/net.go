package harness

import (
	"strconv"
	"testing"
	"time"

	"github.com/vcc/vccpki/internal/testtool"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePorts(t, 1)[0]
}

// FreePorts returns n distinct free loopback ports.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports, err := Ports(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// FreeAddr returns a free loopback HOST:PORT.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(FreePort(t))
}

// Ports is FreePorts for a TestMain, which has no testing.TB.
func Ports(n int) ([]int, error) { return testtool.FreePorts(n) }

// Eventually polls cond until it holds, failing the test after within.
// It waits for a state, never asserts a duration.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	EventuallyEvery(t, within, 10*time.Millisecond, what, cond)
}

// EventuallyEvery is Eventually polling every interval, for a condition
// that runs a client or a command (lego renew, openssl ocsp).
func EventuallyEvery(t testing.TB, within, every time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(every)
	}
}
