package ocsp_test

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ocsp"
)

func fetchCRL(t *testing.T, s *stack, path string, issuer *x509.Certificate) (*http.Response, *x509.RevocationList) {
	t.Helper()
	resp, body := s.get(t, path)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: HTTP %d %s", path, resp.StatusCode, body)
	}
	crl, err := x509.ParseRevocationList(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		t.Fatal(err)
	}
	return resp, crl
}

func listed(crl *x509.RevocationList, serial string) bool {
	for _, e := range crl.RevokedCertificateEntries {
		if ca.FormatSerial(e.SerialNumber) == serial {
			return true
		}
	}
	return false
}

// TestCRLEndpoint: the full CRL of each CA, with caching headers and
// conditional GET, rebuilt after a revocation made elsewhere.
func TestCRLEndpoint(t *testing.T) {
	s := shared.stack
	var resp *http.Response
	var crl *x509.RevocationList
	eventually(t, "the CRL lists the revocation made at start", func() bool {
		resp, crl = fetchCRL(t, s, "/crl/services.crl", s.services)
		return listed(crl, shared.revoked.Serial)
	})
	if resp.Header.Get("Content-Type") != "application/pkix-crl" || resp.Header.Get("Content-Length") == "" {
		t.Errorf("headers %v", resp.Header)
	}
	lm, err1 := http.ParseTime(resp.Header.Get("Last-Modified"))
	exp, err2 := http.ParseTime(resp.Header.Get("Expires"))
	if err1 != nil || err2 != nil || !lm.Equal(crl.ThisUpdate) || !exp.Equal(crl.NextUpdate) {
		t.Errorf("Last-Modified %v Expires %v, CRL %v %v", lm, exp, crl.ThisUpdate, crl.NextUpdate)
	}
	if !strings.HasPrefix(resp.Header.Get("Cache-Control"), "max-age=") {
		t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	etag := resp.Header.Get("ETag")
	if r, _ := s.get(t, "/crl/services.crl", "If-None-Match", etag); r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: HTTP %d", r.StatusCode)
	}
	fetchCRL(t, s, "/crl/code-signing.crl", s.codeSign)
	fetchCRL(t, s, "/crl/root.crl", s.root)

	iss := s.issue(t, "argus", "crl.argus.test")
	s.revokeElsewhere(t, iss.Certificate.SerialNumber, ca.AffiliationChanged)
	eventually(t, "the CRL lists the new revocation", func() bool {
		_, next := fetchCRL(t, s, "/crl/services.crl", s.services)
		return listed(next, iss.Serial) && next.Number.Cmp(crl.Number) > 0
	})
	if r, _ := s.get(t, "/crl/services.crl", "If-None-Match", etag); r.StatusCode != 200 {
		t.Errorf("old ETag after a rebuild: HTTP %d", r.StatusCode)
	}
}

// TestCRLShardEndpoints: with shards, each shard is served at the URL its
// certificates name and lists only them; the full CRL is served when
// configured and not otherwise.
func TestCRLShardEndpoints(t *testing.T) {
	for _, full := range []bool{true, false} {
		t.Run(fmt.Sprintf("full=%v", full), func(t *testing.T) {
			s := newStack(t, stackOptions{crlShards: 3, ocsp: ocsp.Config{FullCRL: full}})
			type leaf struct {
				serial string
				path   string
			}
			var leaves []leaf
			for i := range 9 {
				iss := s.issue(t, "argus", "shard.argus.test")
				dp := iss.Certificate.CRLDistributionPoints[0]
				if !strings.HasPrefix(dp, s.url+"/crl/services/") {
					t.Fatalf("CRL DP %s", dp)
				}
				leaves = append(leaves, leaf{iss.Serial, strings.TrimPrefix(dp, s.url)})
				if i%2 == 0 {
					s.revokeElsewhere(t, iss.Certificate.SerialNumber, ca.KeyCompromise)
				}
			}
			for n := 1; n <= 3; n++ {
				path := "/crl/services/" + strconv.Itoa(n) + ".crl"
				eventually(t, path+" is current", func() bool {
					_, crl := fetchCRL(t, s, path, s.services)
					for i, l := range leaves {
						if listed(crl, l.serial) != (i%2 == 0 && l.path == path) {
							return false
						}
					}
					return true
				})
			}
			resp, _ := s.get(t, "/crl/services.crl")
			if (resp.StatusCode == 200) != full {
				t.Errorf("full CRL: HTTP %d with full=%v", resp.StatusCode, full)
			}
			if r, _ := s.get(t, "/crl/services/4.crl"); r.StatusCode != 404 {
				t.Errorf("shard 4 of 3: HTTP %d", r.StatusCode)
			}
			if r, _ := s.get(t, "/crl/root/1.crl"); r.StatusCode != 404 {
				t.Errorf("root shard: HTTP %d", r.StatusCode)
			}
			fetchCRL(t, s, "/crl/root.crl", s.root)
		})
	}
}
