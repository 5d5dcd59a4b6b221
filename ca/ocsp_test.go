package ca_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
)

// basicResponse is a BasicOCSPResponse as far as these tests look into
// it: what x/crypto/ocsp does not expose (responseExtensions) or cannot
// check (Ed25519 signatures).
type basicResponse struct {
	TBS struct {
		Raw         asn1.RawContent
		ResponderID asn1.RawValue
		ProducedAt  time.Time `asn1:"generalized"`
		Responses   asn1.RawValue
		Extensions  []pkix.Extension `asn1:"explicit,tag:1,optional"`
	}
	Alg pkix.AlgorithmIdentifier
	Sig asn1.BitString
}

// responseNonce digs the nonce out of a BasicOCSPResponse's
// responseExtensions.
func responseNonce(t *testing.T, der []byte) []byte {
	t.Helper()
	for _, e := range parseBasic(t, der).TBS.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}) {
			return e.Value
		}
	}
	return nil
}

func parseBasic(t *testing.T, der []byte) basicResponse {
	t.Helper()
	var resp struct {
		Status asn1.Enumerated
		Bytes  struct {
			Type  asn1.ObjectIdentifier
			Basic []byte
		} `asn1:"explicit,tag:0"`
	}
	if _, err := asn1.Unmarshal(der, &resp); err != nil {
		t.Fatal(err)
	}
	var basic basicResponse
	if _, err := asn1.Unmarshal(resp.Bytes.Basic, &basic); err != nil {
		t.Fatal(err)
	}
	return basic
}

func TestSignOCSP(t *testing.T) {
	for _, kt := range []keys.Type{keys.ECDSAP256, keys.ECDSAP384, keys.RSA2048, keys.Ed25519} {
		t.Run(string(kt), func(t *testing.T) {
			hc := ca.DefaultHierarchy()
			hc.OCSP.KeyType = kt
			f := newFixture(t, hc)
			ctx := context.Background()
			issue := func(name string) *ca.Issued {
				iss, err := f.engine.Issue(ctx, ca.IssueRequest{Profile: "argus", CSR: makeCSR(t, csrSpec{dns: []string{name}}), Requester: operator()})
				if err != nil {
					t.Fatal(err)
				}
				return iss
			}
			good, gone := issue("good.argus.test"), issue("gone.argus.test")
			if err := f.engine.Revoke(ctx, gone.Certificate.SerialNumber, ca.KeyCompromise, operator()); err != nil {
				t.Fatal(err)
			}
			r, err := f.engine.OCSPResponder(ca.ServicesCA)
			if err != nil {
				t.Fatal(err)
			}
			var singles []ca.OCSPSingle
			for i, c := range []*ca.Issued{good, gone} {
				st, err := f.engine.StatusOf(ctx, ca.ServicesCA, c.Certificate.SerialNumber)
				if err != nil {
					t.Fatal(err)
				}
				h := crypto.SHA1
				if i == 1 {
					h = crypto.SHA256
				}
				singles = append(singles, ca.OCSPSingle{Hash: h, Serial: c.Certificate.SerialNumber, Status: st})
			}
			unknownSerial := big.NewInt(0x7fedcba9)
			singles = append(singles, ca.OCSPSingle{Hash: crypto.SHA1, Serial: unknownSerial, Status: ca.CertStatus{Status: ca.Unknown}})
			nonce := []byte{0x04, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
			signed, err := r.Sign(ctx, singles, nonce, 6*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			der := ca.AppendOCSPResponse(nil, signed.Signed, r.Certs())
			if len(der) != ca.OCSPResponseSize(signed.Signed, r.Certs()) {
				t.Errorf("OCSPResponseSize = %d, response is %d bytes", ca.OCSPResponseSize(signed.Signed, r.Certs()), len(der))
			}
			if got := responseNonce(t, der); !bytes.Equal(got, nonce) {
				t.Errorf("nonce %x, want %x", got, nonce)
			}
			issuer := r.Issuer()
			if kt == keys.Ed25519 {
				// x/crypto/ocsp knows no Ed25519 signatures ("algorithm
				// unimplemented"): check this one by hand.
				b := parseBasic(t, der)
				if !ed25519.Verify(r.Certificate().PublicKey.(ed25519.PublicKey), b.TBS.Raw, b.Sig.Bytes) {
					t.Error("Ed25519 signature does not verify")
				}
				return
			}
			for _, tc := range []struct {
				name   string
				serial *big.Int
				status int
				hash   crypto.Hash
			}{
				{"good", good.Certificate.SerialNumber, ocsp.Good, crypto.SHA1},
				{"revoked", gone.Certificate.SerialNumber, ocsp.Revoked, crypto.SHA256},
				{"unknown", unknownSerial, ocsp.Unknown, crypto.SHA1},
			} {
				t.Run(tc.name, func(t *testing.T) {
					// x/crypto picks the SingleResponse by serial and checks
					// the signature and the responder certificate.
					resp, err := ocsp.ParseResponseForCert(der, &x509.Certificate{SerialNumber: tc.serial}, issuer)
					if err != nil {
						t.Fatal(err)
					}
					if resp.Status != tc.status || resp.IssuerHash != tc.hash || resp.Certificate == nil ||
						!resp.ThisUpdate.Equal(signed.ThisUpdate) || !resp.NextUpdate.Equal(signed.NextUpdate) {
						t.Errorf("response %+v", resp)
					}
					if len(resp.ResponderKeyHash) != 20 {
						t.Errorf("ResponderID is not byKey: %x", resp.ResponderKeyHash)
					}
					if tc.status == ocsp.Revoked && (resp.RevocationReason != ocsp.KeyCompromise || resp.RevokedAt.IsZero()) {
						t.Errorf("revoked: reason %d at %v", resp.RevocationReason, resp.RevokedAt)
					}
				})
			}
		})
	}
}

func TestOCSPResponderRefusals(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	for _, name := range []string{ca.RootCA, ca.TSAName, "nope", ca.OCSPResponderName(ca.ServicesCA)} {
		if _, err := f.engine.OCSPResponder(name); err == nil {
			t.Errorf("OCSPResponder(%q) succeeded", name)
		}
	}
	r, err := f.engine.OCSPResponder(ca.CodeSigningCA)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, singles := range map[string][]ca.OCSPSingle{
		"none":     nil,
		"MD5":      {{Hash: crypto.MD5, Serial: big.NewInt(5)}},
		"negative": {{Hash: crypto.SHA1, Serial: big.NewInt(-5)}},
		"status":   {{Hash: crypto.SHA1, Serial: big.NewInt(5), Status: ca.CertStatus{Status: 9}}},
	} {
		if _, err := r.Sign(ctx, singles, nil, time.Hour); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
}
