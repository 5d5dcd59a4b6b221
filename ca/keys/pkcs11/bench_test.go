//go:build cgo

package pkcs11

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/keys/pkcs11/softhsmtest"
)

// BenchmarkTokenSign: P-256 signatures through SoftHSM2 bare (crypto11's
// session pool) and behind keys.Bounded (a goroutine and a semaphore per
// signature, what buys the time limit), beside in-process Go ECDSA.
func BenchmarkTokenSign(b *testing.B) {
	tk := softhsmtest.New(b, "bench")
	tok, err := Open(Config{Module: tk.Module, TokenLabel: tk.Label, PIN: tk.PIN})
	if err != nil {
		b.Fatal(err)
	}
	defer tok.Close()
	ctx := context.Background()
	if _, _, err := tok.Create(ctx, "ca", keys.ECDSAP256); err != nil {
		b.Fatal(err)
	}
	bare, _ := tok.Signer(ctx, "ca")
	bounded, _ := keys.Bounded(tok, 15, 5*time.Second).Signer(ctx, "ca")
	unlimited, _ := keys.Bounded(tok, 15, 0).Signer(ctx, "ca")
	soft, _ := keys.Generate(keys.ECDSAP256)
	digest := sha256.Sum256([]byte("x"))
	for _, s := range []struct {
		name   string
		signer crypto.Signer
	}{{"go-ecdsa", soft}, {"softhsm", bare}, {"softhsm-bounded", bounded}, {"softhsm-semaphore-only", unlimited}} {
		for _, par := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/par=%d", s.name, par), func(b *testing.B) {
				b.SetParallelism(par)
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := s.signer.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sigs/s")
			})
		}
	}
}
