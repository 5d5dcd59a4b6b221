package ocsp_test

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	xocsp "golang.org/x/crypto/ocsp"

	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ocsp"
	"github.com/vcc/vccpki/store"
)

// stallingSource is a key source whose signatures hang while stalled, as
// a network HSM's do when the HSM or the link to it stops answering.
type stallingSource struct {
	keys.Source
	mu   sync.Mutex
	gate chan struct{} // nil: not stalled
}

func (s *stallingSource) stall() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gate := make(chan struct{})
	s.gate = gate
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.gate = nil
			s.mu.Unlock()
			close(gate)
		})
	}
}

func (s *stallingSource) Create(ctx context.Context, id string, t keys.Type) (crypto.Signer, store.KeyRecord, error) {
	k, rec, err := s.Source.Create(ctx, id, t)
	return &stallingSigner{k, s}, rec, err
}

func (s *stallingSource) Signer(ctx context.Context, id string) (crypto.Signer, error) {
	k, err := s.Source.Signer(ctx, id)
	if err != nil {
		return nil, err
	}
	return &stallingSigner{k, s}, nil
}

type stallingSigner struct {
	crypto.Signer
	src *stallingSource
}

func (s *stallingSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	s.src.mu.Lock()
	gate := s.src.gate
	s.src.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return s.Signer.Sign(r, d, o)
}

// TestSlowTokenDoesNotStallCachedAnswers: with every signature hanging
// (keys behind keys.Bounded, as vccpki serve puts a token), pre-signed
// responses are still served at once, and a request that needs a live
// signature fails by itself, in time, with an OCSP error status.
// presigned reads vccpki_ocsp_presigned_total beyond the first pass.
func presigned(t *testing.T, reg *prometheus.Registry) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "vccpki_ocsp_presigned_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

func TestSlowTokenDoesNotStallCachedAnswers(t *testing.T) {
	slow := &stallingSource{}
	reg := prometheus.NewRegistry()
	s := newStack(t, stackOptions{ocsp: ocsp.Config{LiveSignatures: -1, Registerer: reg}, wrapKeys: func(src keys.Source) keys.Source {
		slow.Source = src
		return keys.Bounded(slow, 2, 300*time.Millisecond)
	}})
	good := s.issue(t, "argus", "slow-token.argus.test")
	cached := multiRequest(t, s.services, crypto.SHA1, nil, good.Certificate.SerialNumber)
	// The change feed signs the new certificate's response ahead of any
	// request; wait for it, so that no feed signature is due while stalled.
	eventually(t, "the new certificate pre-signed", func() bool {
		return presigned(t, reg) >= 1
	})
	release := slow.stall()
	defer release()

	for range 20 {
		resp, body := s.post(t, cached, "application/ocsp-request")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("cached answer while the token hangs: HTTP %d", resp.StatusCode)
		}
		r, err := xocsp.ParseResponseForCert(body, good.Certificate, s.services)
		if err != nil || r.Status != xocsp.Good {
			t.Fatalf("cached answer while the token hangs: %v %+v", err, r)
		}
	}

	live := multiRequest(t, s.services, crypto.SHA1, append([]byte{0x04, 0x10}, bytes.Repeat([]byte{7}, 16)...), good.Certificate.SerialNumber)
	for range 3 { // more than the two signing slots: later ones fail fast
		resp, body := s.post(t, live, "application/ocsp-request")
		_, err := xocsp.ParseResponse(body, s.services)
		var re xocsp.ResponseError
		if resp.StatusCode != http.StatusOK || !errors.As(err, &re) || (re.Status != xocsp.TryLater && re.Status != xocsp.InternalError) {
			t.Fatalf("live signature while the token hangs: HTTP %d, %v", resp.StatusCode, err)
		}
	}
	if _, body := s.post(t, cached, "application/ocsp-request"); true {
		if r, err := xocsp.ParseResponseForCert(body, good.Certificate, s.services); err != nil || r.Status != xocsp.Good {
			t.Fatalf("cached answer after the failed live ones: %v", err)
		}
	}

	release()
	eventually(t, "live signing after the token answers again", func() bool {
		_, body := s.post(t, live, "application/ocsp-request")
		r, err := xocsp.ParseResponseForCert(body, good.Certificate, s.services)
		return err == nil && r.Status == xocsp.Good
	})
}
