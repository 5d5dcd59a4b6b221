package ocsp_test

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ocsp"
)

// BenchmarkHandler measures the hot path in process, without the
// network: a pre-signed answer found, enveloped and written, for POST and
// GET, and a response signed live for comparison.
func BenchmarkHandler(b *testing.B) {
	// Unlimited live signatures, so that the nonce case really signs.
	s := newStack(b, stackOptions{ocsp: ocsp.Config{LiveSignatures: -1}})
	good := s.issue(b, "argus", "bench.argus.test")
	<-s.responder.Ready()
	mux := http.NewServeMux()
	s.responder.Register(mux)
	handler := s.responder.Handler(mux)
	der := multiRequest(b, s.services, crypto.SHA1, nil, good.Certificate.SerialNumber)
	nonce := multiRequest(b, s.services, crypto.SHA1, append([]byte{0x04, 0x10}, bytes.Repeat([]byte{3}, 16)...), good.Certificate.SerialNumber)
	eventually(b, "pre-signed", func() bool {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/ocsp", bytes.NewReader(der))
		r.Header.Set("Content-Type", "application/ocsp-request")
		handler.ServeHTTP(rec, r)
		return rec.Header().Get("ETag") != "" && s.responder.Stats().Responses > 0
	})
	getPath := "/ocsp/" + url.PathEscape(base64.StdEncoding.EncodeToString(der))
	for _, tc := range []struct {
		name string
		req  func() *http.Request
	}{
		{"POST cached", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/ocsp", bytes.NewReader(der))
			r.Header.Set("Content-Type", "application/ocsp-request")
			return r
		}},
		{"GET cached", func() *http.Request { return httptest.NewRequest(http.MethodGet, getPath, nil) }},
		{"POST nonce (signed live)", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/ocsp", bytes.NewReader(nonce))
			r.Header.Set("Content-Type", "application/ocsp-request")
			return r
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, tc.req())
				if rec.Code != 200 {
					b.Fatalf("HTTP %d", rec.Code)
				}
			}
		})
	}
}

// BenchmarkRevocationPickup measures how long after a revocation commits
// in another store handle (as vccpki revoke does, from its own process)
// the responder serves "revoked" for it from its cache, with the default
// poll interval. It reports the median and the worst of the iterations.
func BenchmarkRevocationPickup(b *testing.B) {
	s := newStack(b, stackOptions{})
	var took []time.Duration
	for b.Loop() {
		b.StopTimer()
		iss := s.issue(b, "argus", "pickup.argus.test")
		der := multiRequest(b, s.services, crypto.SHA1, nil, iss.Certificate.SerialNumber)
		served := func(want int) bool {
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/ocsp", bytes.NewReader(der))
			r.Header.Set("Content-Type", "application/ocsp-request")
			s.mux.ServeHTTP(rec, r)
			resp, err := xocsp.ParseResponseForCert(rec.Body.Bytes(), iss.Certificate, s.services)
			return err == nil && resp.Status == want && rec.Header().Get("ETag") != ""
		}
		eventually(b, "pre-signed", func() bool { return served(xocsp.Good) })
		// Revocations come at any moment of the poll cycle.
		time.Sleep(rand.N(300 * time.Millisecond))
		b.StartTimer()
		s.revokeElsewhere(b, iss.Certificate.SerialNumber, ca.KeyCompromise)
		start := time.Now()
		for !served(xocsp.Revoked) {
			time.Sleep(time.Millisecond)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "max-ms")
}
