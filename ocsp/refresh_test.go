package ocsp_test

import (
	"crypto"
	"crypto/x509"
	"math/big"
	"sync"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ocsp"
)

// query POSTs a request for cert and returns the parsed response.
func (s *stack) query(t *testing.T, cert *x509.Certificate, h crypto.Hash) *xocsp.Response {
	t.Helper()
	_, body := s.post(t, ocspRequest(t, cert, s.services, h), "application/ocsp-request")
	r, err := parseResponse(t, body, cert, s.services)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRefreshBeforeNextUpdate: pre-signed responses are re-signed once
// half their validity has passed, so a client never gets a response near
// its nextUpdate; CRLs likewise.
func TestRefreshBeforeNextUpdate(t *testing.T) {
	clk := &clock{}
	s := newStack(t, stackOptions{clock: clk, ocsp: ocsp.Config{Validity: time.Hour, RefreshCheck: 20 * time.Millisecond}})
	iss := s.issue(t, "argus", "refresh.argus.test")
	var first *xocsp.Response
	eventually(t, "pre-signed", func() bool {
		first = s.query(t, iss.Certificate, crypto.SHA1)
		return first.Status == xocsp.Good
	})
	sha256First := s.query(t, iss.Certificate, crypto.SHA256)
	_, crlBody := s.get(t, "/crl/services.crl")
	crl1, err := x509.ParseRevocationList(crlBody)
	if err != nil {
		t.Fatal(err)
	}

	clk.advance(31 * time.Minute)
	eventually(t, "re-signed past half the validity", func() bool {
		r := s.query(t, iss.Certificate, crypto.SHA1)
		return r.ThisUpdate.After(first.ThisUpdate.Add(30 * time.Minute))
	})
	// The same pass then empties the table of SHA-256 answers (signed on
	// request, not pre-signed), one hash after the other: the answer from
	// before must go, though not necessarily before the SHA-1 one is back.
	eventually(t, "the SHA-256 response from before is no longer served", func() bool {
		r := s.query(t, iss.Certificate, crypto.SHA256)
		return r.ThisUpdate.After(sha256First.ThisUpdate.Add(30 * time.Minute))
	})

	clk.advance(13 * time.Hour) // past half of the CRL's 24h
	eventually(t, "CRL rebuilt past half its validity", func() bool {
		_, body := s.get(t, "/crl/services.crl")
		crl, err := x509.ParseRevocationList(body)
		return err == nil && crl.Number.Cmp(crl1.Number) > 0 && crl.ThisUpdate.After(crl1.ThisUpdate.Add(13*time.Hour-time.Minute))
	})
}

// TestRebuildKeepsRevocations: revocations made while a table is being
// rebuilt are served revoked after the swap, and stay revoked.
func TestRebuildKeepsRevocations(t *testing.T) {
	clk := &clock{}
	s := newStack(t, stackOptions{clock: clk, ocsp: ocsp.Config{Validity: time.Hour, RefreshCheck: 10 * time.Millisecond, PollInterval: 10 * time.Millisecond}})
	var certs []*ca.Issued
	for i := range 300 {
		certs = append(certs, s.issue(t, "argus", "r"+string(rune('a'+i%26))+".argus.test"))
	}
	eventually(t, "all pre-signed", func() bool { return s.query(t, certs[len(certs)-1].Certificate, crypto.SHA1).Status == xocsp.Good })
	// Rebuilds now run back to back (every half hour of a clock that
	// moves an hour at a time), while revocations land.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(15 * time.Millisecond):
				clk.advance(time.Hour)
			}
		}
	})
	for i := 0; i < len(certs); i += 6 {
		s.revokeElsewhere(t, certs[i].Certificate.SerialNumber, ca.KeyCompromise)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	for i, c := range certs {
		want := xocsp.Good
		if i%6 == 0 {
			want = xocsp.Revoked
		}
		eventually(t, "status of certificate "+c.Serial, func() bool { return s.query(t, c.Certificate, crypto.SHA1).Status == want })
	}
	// And after one more rebuild.
	clk.advance(time.Hour)
	time.Sleep(200 * time.Millisecond)
	for i := 0; i < len(certs); i += 6 {
		if r := s.query(t, certs[i].Certificate, crypto.SHA1); r.Status != xocsp.Revoked {
			t.Errorf("certificate %d is %d after a rebuild", i, r.Status)
		}
	}
}

// TestLiveBudget: once the budget of live signatures is spent, a request
// with a nonce gets the pre-signed response without it (RFC 5019 §4), and
// one that has no pre-signed answer gets tryLater.
func TestLiveBudget(t *testing.T) {
	clk := &clock{}
	s := newStack(t, stackOptions{clock: clk, ocsp: ocsp.Config{LiveSignatures: 1}})
	iss := s.issue(t, "argus", "budget.argus.test")
	eventually(t, "pre-signed", func() bool { return s.query(t, iss.Certificate, crypto.SHA1).Status == xocsp.Good })
	clk.freeze() // the bucket gets no more tokens
	withNonce := multiRequest(t, s.services, crypto.SHA1, []byte{4, 1, 7}, iss.Certificate.SerialNumber)
	var nonces int
	for range 3 {
		_, body := s.post(t, withNonce, "application/ocsp-request")
		if r, err := parseResponse(t, body, iss.Certificate, s.services); err != nil || r.Status != xocsp.Good {
			t.Fatalf("%+v %v", r, err)
		}
		if responseNonce(t, body) != nil {
			nonces++
		}
	}
	if nonces > 1 {
		t.Errorf("%d of 3 responses signed live with a budget of 1", nonces)
	}
	_, body := s.post(t, multiRequest(t, s.services, crypto.SHA1, nil, big.NewInt(987654321)), "application/ocsp-request")
	wantStatus(t, body, xocsp.TryLater)
}
