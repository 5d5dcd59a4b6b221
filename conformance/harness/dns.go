package harness

import (
	"context"
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
	addr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	cs, err := challtestsrv.New(challtestsrv.Config{DNSAddrs: []string{addr}, Log: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	cs.SetDefaultDNSIPv4("127.0.0.1")
	cs.SetDefaultDNSIPv6("")
	go cs.Run()
	t.Cleanup(cs.Shutdown)
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	// challtestsrv gives no readiness signal.
	Eventually(t, 10*time.Second, "fake DNS at "+addr+" answers", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := r.LookupHost(ctx, "ready.test")
		return err == nil
	})
	return cs, addr
}
