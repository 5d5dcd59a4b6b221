package est

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
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
