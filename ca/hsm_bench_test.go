package ca_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math/big"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/keys/pkcs11"
	"github.com/vcc/vccpki/ca/keys/pkcs11/softhsmtest"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite"
)

// keyBackends are the key sources the HSM benchmarks compare: the
// software key store and a SoftHSM2 token behind the same bounded wrapper
// vccpki serve puts around a token (15 signatures in flight, 5 s).
var keyBackends = []string{"software", "softhsm"}

// backendEngine bootstraps a hierarchy (P-256) with its keys in the named
// backend and opens an engine with time-stamping on a real SQLite file.
func backendEngine(b *testing.B, backend string) *ca.Engine {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "vccpki.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	var src keys.Source
	var extra []store.KeyRecord
	switch backend {
	case "software":
		kek, params, err := keys.NewKEK([]byte(testPassphrase), testKDF)
		if err != nil {
			b.Fatal(err)
		}
		src, extra = keys.NewSoftware(kek, st), []store.KeyRecord{{ID: keys.KEKRecordID, Algorithm: keys.KDFAlgorithm, Sealed: params}}
	case "softhsm":
		tk := softhsmtest.New(b, "bench")
		tok, err := pkcs11.Open(pkcs11.Config{Module: tk.Module, TokenLabel: tk.Label, PIN: tk.PIN})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { tok.Close() })
		src = keys.Bounded(tok, 15, 5*time.Second)
	}
	cfg := testConfig()
	if _, err := ca.Bootstrap(ctx, st, src, cfg, "bench", extra...); err != nil {
		b.Fatal(err)
	}
	profiles, err := profile.Load("../configs/profiles", ca.IssuingCAs)
	if err != nil {
		b.Fatal(err)
	}
	e, err := ca.Open(ctx, st, src, profiles, cfg, ca.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.EnableTimestamps(ctx, st); err != nil {
		b.Fatal(err)
	}
	return e
}

// parallelRate runs op on par goroutines and reports ops per second.
func parallelRate(b *testing.B, par int, unit string, op func() error) {
	b.SetParallelism(par)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), unit)
}

// BenchmarkKeyBackend compares the software key store with a SoftHSM2
// token: bare P-256 signatures, live-signed OCSP responses (one
// SingleResponse, what a nonce or a cache miss costs) and whole RFC 3161
// tokens (serial, CMS, signature, durable record). Parallelism is per
// GOMAXPROCS: on 2 cores, par=4 means 8 goroutines.
func BenchmarkKeyBackend(b *testing.B) {
	ctx := context.Background()
	digest := sha256.Sum256([]byte("x"))
	for _, backend := range keyBackends {
		e := backendEngine(b, backend)
		signer, err := e.Signer(ctx, ca.TSAName)
		if err != nil {
			b.Fatal(err)
		}
		responder, err := e.OCSPResponder(ca.ServicesCA)
		if err != nil {
			b.Fatal(err)
		}
		var serial atomic.Int64
		policy, err := ca.NewTimestampPolicy(mustOID("1.3.6.1.4.1.32473.3161.1"))
		if err != nil {
			b.Fatal(err)
		}
		tsReq := ca.TimestampRequest{Hash: crypto.SHA256, Digest: digest[:], Policy: policy, Accuracy: time.Second, CertReq: true}
		for _, par := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/sign/par=%d", backend, par), func(b *testing.B) {
				parallelRate(b, par, "sigs/s", func() error {
					_, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
					return err
				})
			})
			b.Run(fmt.Sprintf("%s/ocsp-live/par=%d", backend, par), func(b *testing.B) {
				parallelRate(b, par, "responses/s", func() error {
					s := ca.OCSPSingle{Hash: crypto.SHA1, Serial: big.NewInt(serial.Add(1)), Status: ca.CertStatus{Status: ca.Good, NotAfter: time.Now().Add(time.Hour)}}
					_, err := responder.Sign(ctx, []ca.OCSPSingle{s}, nil, time.Hour)
					return err
				})
			})
			b.Run(fmt.Sprintf("%s/timestamp/par=%d", backend, par), func(b *testing.B) {
				parallelRate(b, par*8, "tokens/s", func() error {
					_, err := e.Timestamp(ctx, tsReq)
					return err
				})
			})
		}
	}
}
