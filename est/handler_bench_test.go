package est

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkEnrollHandler is one simpleenroll through the front end and
// the engine in-process, without TLS or sockets: what the server spends
// per enrolment besides the connection.
func BenchmarkEnrollHandler(b *testing.B) {
	csrs := make([][]byte, 256)
	for i := range csrs {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{fmt.Sprintf("b%d.argus.test", i)}}, newKey(b))
		if err != nil {
			b.Fatal(err)
		}
		csrs[i] = b64(der)
	}
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest(http.MethodPost, "https://est.test/.well-known/est/argus/simpleenroll", bytes.NewReader(csrs[n.Add(1)%256]))
			r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13}
			r.Header.Set("Content-Type", "application/pkcs10")
			r.SetBasicAuth("argus-agent", passwordOf("argus-agent"))
			w := httptest.NewRecorder()
			env.server.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	})
}

// BenchmarkEnrollTLSKeepAlive is simpleenroll with HTTP Basic over kept-
// alive TLS connections at concurrency 8, client and server in this
// process: run it with -blockprofile/-mutexprofile to see what the
// requests wait for.
func BenchmarkEnrollTLSKeepAlive(b *testing.B) {
	const c = 8
	csrs := make([][]byte, 256)
	for i := range csrs {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{fmt.Sprintf("t%d.argus.test", i)}}, newKey(b))
		if err != nil {
			b.Fatal(err)
		}
		csrs[i] = b64(der)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: env.roots}, MaxIdleConnsPerHost: c, MaxConnsPerHost: c}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	url := "https://" + env.addr + "/.well-known/est/argus/simpleenroll"
	enrol := func(i int64) error {
		r, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(csrs[i%256]))
		if err != nil {
			return err
		}
		r.Header.Set("Content-Type", "application/pkcs10")
		r.SetBasicAuth("argus-agent", passwordOf("argus-agent"))
		resp, err := hc.Do(r)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%d %s", resp.StatusCode, body)
		}
		return nil
	}
	for i := range c {
		if err := enrol(int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := n.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := enrol(i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
