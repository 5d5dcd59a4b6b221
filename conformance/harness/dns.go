package harness

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/letsencrypt/challtestsrv"
)

// FakeDNS starts challtestsrv's DNS server on a free loopback port, for the
// ACME validator (--va-dns) and the clients of a test, and returns it with
// its address once it answers. Names resolve to 127.0.0.1 by default.
func FakeDNS(t testing.TB) (*challtestsrv.ChallSrv, string) {
	t.Helper()
	cs, addr, err := StartDNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cs.Shutdown)
	return cs, addr
}

// StartDNS is FakeDNS for a TestMain, which has no testing.TB: the caller
// shuts it down.
func StartDNS() (*challtestsrv.ChallSrv, string, error) {
	ports, err := Ports(1)
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	cs, err := challtestsrv.New(challtestsrv.Config{DNSAddrs: []string{addr}, Log: log.New(io.Discard, "", 0)})
	if err != nil {
		return nil, "", err
	}
	cs.SetDefaultDNSIPv4("127.0.0.1")
	cs.SetDefaultDNSIPv6("")
	go cs.Run()
	// challtestsrv gives no readiness signal.
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	for deadline := time.Now().Add(10 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := r.LookupHost(ctx, "ready.test")
		cancel()
		if err == nil {
			return cs, addr, nil
		}
		if time.Now().After(deadline) {
			cs.Shutdown()
			return nil, "", fmt.Errorf("challtestsrv DNS at %s does not answer: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
