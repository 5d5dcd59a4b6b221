package api

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/sign"
)

// BenchmarkServerSign measures server-side signatures per second in
// process, with the software key store (goal ≥ 5,000/s):
//   - core: the signature with the profile's server-held key, the
//     in-process RFC 3161 time-stamp (signed and recorded) and the
//     Sigstore bundle;
//   - api: all of POST /sign: authentication, rate limit, the above, the
//     registry entry and both audit entries, without a network.
func BenchmarkServerSign(b *testing.B) {
	ctx := context.Background()
	sk, err := testEngine.SigningKey(ctx, "clara-signing", true, ca.Requester{Protocol: ca.ProtocolOperator, Subject: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	digest, _ := hex.DecodeString(randomDigest())
	b.Run("core", func(b *testing.B) {
		s := &sign.Signer{Key: sk.Signer, Cert: sk.Cert, Chain: sk.Chain, Stamper: &sign.EngineTimestamper{Engine: testEngine, Policy: testPolicy}}
		b.SetParallelism(32) // many requests at once, as from many CI jobs: group commit batches their records
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.SignDigest(ctx, digest); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sigs/s")
	})
	b.Run("api", func(b *testing.B) {
		body, _ := json.Marshal(SignRequest{Profile: "clara-signing", ArtifactType: "manifest", Name: "bench", Digest: hex.EncodeToString(digest)})
		b.SetParallelism(32) // many requests at once, as from many CI jobs: group commit batches their records
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r := httptest.NewRequest("POST", Prefix+"/sign", bytes.NewReader(body))
				r.Header.Set("X-Test-Principal", signer)
				w := httptest.NewRecorder()
				testAPI.ServeHTTP(w, r)
				if w.Code != http.StatusCreated {
					b.Errorf("%d %s", w.Code, w.Body)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sigs/s")
	})
}
