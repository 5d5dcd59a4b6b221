package acme_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/acme/acmetest"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/internal/testtool"
)

var _ acme.Engine = (*ca.Engine)(nil)

// env is the one ACME server of this test package (acmetest.Env), with
// the fake DNS its validator asks. Tests that bind the validation ports
// run one at a time (no t.Parallel).
type env struct {
	*acmetest.Env
	dns *testDNS
}

var testEnv *env

var b64 = acmetest.B64

// profilesDir holds the profile templates the test hierarchy uses.
const profilesDir = "../configs/profiles"

func TestMain(m *testing.M) {
	e, err := newEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "acme test environment:", err)
		os.Exit(1)
	}
	testEnv = e
	code := m.Run()
	e.close()
	os.Exit(code)
}

func newEnv() (*env, error) {
	ports, err := testtool.FreePorts(1)
	if err != nil {
		return nil, err
	}
	dnsAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	dns, err := startTestDNS(dnsAddr)
	if err != nil {
		return nil, err
	}
	if err := waitDNS(dnsAddr); err != nil {
		return nil, err
	}
	ae, err := acmetest.NewEnv(context.Background(), profilesDir, dnsAddr)
	if err != nil {
		return nil, err
	}
	return &env{Env: ae, dns: dns}, nil
}

func (e *env) close() {
	e.Close()
	e.dns.Shutdown()
}

// waitDNS waits until the fake DNS answers.
func waitDNS(addr string) error {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := r.LookupHost(ctx, "ready.test")
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("fake DNS at %s does not answer: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
