package ocsp_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"net/http"
	"strings"
	"testing"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/vcc/vccpki/store"
)

// TestBadInput: every kind of bad request gets the answer its RFC names,
// the server stays up, and nothing in the store changes.
func TestBadInput(t *testing.T) {
	s := shared.stack
	good := ocspRequest(t, shared.good.Certificate, s.services, crypto.SHA1)
	goodSerial := shared.good.Certificate.SerialNumber
	withNonce := func(n []byte) []byte { return multiRequest(t, s.services, crypto.SHA1, n, goodSerial) }
	octets := func(n int) []byte { b, _ := asn1.Marshal(bytes.Repeat([]byte{7}, n)); return b }
	alien := certIDFor(t, s.services, crypto.SHA1, goodSerial)
	alien.KeyHash = bytes.Repeat([]byte{0xab}, 20)
	negative := certIDFor(t, s.services, crypto.SHA1, big.NewInt(-5))
	many := make([]*big.Int, 65)
	for i := range many {
		many[i] = big.NewInt(int64(1000 + i))
	}
	critical := requestASN1{}
	critical.TBS.List = []singleRequestASN1{{certIDFor(t, s.services, crypto.SHA1, goodSerial)}}
	critical.TBS.Exts = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Critical: true, Value: []byte{5, 0}}}
	criticalDER, _ := asn1.Marshal(critical)
	twoNonces := requestASN1{}
	twoNonces.TBS.List = critical.TBS.List
	twoNonces.TBS.Exts = []pkix.Extension{{Id: oidNonce, Value: octets(16)}, {Id: oidNonce, Value: octets(16)}}
	twoNoncesDER, _ := asn1.Marshal(twoNonces)
	v2 := append([]byte{}, good...)
	// TBSRequest with version [0] EXPLICIT INTEGER 1 spliced in.
	v2 = spliceVersion(t, v2, 1)

	const (
		ocspType = "application/ocsp-request"
		post     = "POST"
		get      = "GET"
	)
	for _, tc := range []struct {
		name   string
		method string
		body   []byte
		ctype  string
		path   string // GET path after /ocsp/, or a whole path when it starts with /
		code   int
		status xocsp.ResponseStatus // 0 with code 200: a successful response
	}{
		{"empty body", post, nil, ocspType, "", 200, xocsp.Malformed},
		{"garbage", post, []byte("this is not DER at all"), ocspType, "", 200, xocsp.Malformed},
		{"truncated request", post, good[:len(good)-5], ocspType, "", 200, xocsp.Malformed},
		{"trailing data", post, append(append([]byte{}, good...), 0, 0), ocspType, "", 200, xocsp.Malformed},
		{"request over the size limit", post, bytes.Repeat([]byte{0x30}, 20<<10), ocspType, "", 413, xocsp.Malformed},
		{"wrong content type", post, good, "text/plain", "", 415, xocsp.Malformed},
		{"no content type", post, good, "", "", 415, xocsp.Malformed},
		{"content type with parameters", post, good, "Application/OCSP-Request; charset=binary", "", 200, 0},
		{"GET with bad base64", get, nil, "", "!!not*base64!!", 200, xocsp.Malformed},
		{"GET with base64 of garbage", get, nil, "", base64.StdEncoding.EncodeToString([]byte("garbage")), 200, xocsp.Malformed},
		{"GET with nothing", get, nil, "", "", 200, xocsp.Malformed},
		{"GET over the size limit", get, nil, "", strings.Repeat("A", 5000), 414, xocsp.Malformed},
		{"unknown issuer", post, marshalRequest(t, []certIDASN1{alien}, nil), ocspType, "", 200, xocsp.Unauthorized},
		{"unsupported hash algorithm (MD5)", post, multiRequest(t, s.services, crypto.MD5, nil, goodSerial), ocspType, "", 200, xocsp.Unauthorized},
		{"unsupported hash algorithm (SHA-384)", post, multiRequest(t, s.services, crypto.SHA384, nil, goodSerial), ocspType, "", 200, xocsp.Unauthorized},
		{"CertIDs of two issuers", post, multiRequestMixed(t, shared.good.Certificate, s.services, shared.signing.Certificate, s.codeSign), ocspType, "", 200, xocsp.Unauthorized},
		{"nonce of 200 bytes", post, withNonce(octets(200)), ocspType, "", 200, xocsp.Malformed},
		{"nonce of 33 bytes", post, withNonce(octets(33)), ocspType, "", 200, xocsp.Malformed},
		{"empty nonce", post, withNonce(octets(0)), ocspType, "", 200, xocsp.Malformed},
		{"two nonces", post, twoNoncesDER, ocspType, "", 200, xocsp.Malformed},
		{"unknown critical extension", post, criticalDER, ocspType, "", 200, xocsp.Malformed},
		{"negative serial", post, marshalRequest(t, []certIDASN1{negative}, nil), ocspType, "", 200, xocsp.Malformed},
		{"65 CertIDs", post, multiRequest(t, s.services, crypto.SHA1, nil, many...), ocspType, "", 200, xocsp.Malformed},
		{"version 2", post, v2, ocspType, "", 200, xocsp.Malformed},
		{"PUT", "PUT", good, ocspType, "/ocsp", 405, 0},
		{"unknown CRL", get, nil, "", "/crl/nope.crl", 404, 0},
		{"CRL of a non-CA", get, nil, "", "/crl/tsa.crl", 404, 0},
		{"CRL shard without shards", get, nil, "", "/crl/services/1.crl", 404, 0},
		{"CRL shard 0", get, nil, "", "/crl/services/0.crl", 404, 0},
		{"CRL shard spelled 01", get, nil, "", "/crl/services/01.crl", 404, 0},
		{"CRL without .crl", get, nil, "", "/crl/services", 404, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := storeState(t, s)
			path := tc.path
			if !strings.HasPrefix(path, "/") {
				path = "/ocsp/" + path
			}
			var req *http.Request
			var err error
			if tc.method == get {
				req, err = http.NewRequest(get, s.url+path, nil)
			} else {
				if tc.path == "" {
					path = "/ocsp"
				}
				req, err = http.NewRequest(tc.method, s.url+path, bytes.NewReader(tc.body))
				if tc.ctype != "" {
					req.Header.Set("Content-Type", tc.ctype)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			resp, body := do(t, req)
			if resp.StatusCode != tc.code {
				t.Fatalf("HTTP %d, want %d (%s)", resp.StatusCode, tc.code, body)
			}
			switch {
			case tc.status != 0:
				wantStatus(t, body, tc.status)
			case tc.code == 200:
				if _, err := parseResponse(t, body, shared.good.Certificate, s.services); err != nil {
					t.Fatal(err)
				}
			}
			if after := storeState(t, s); after != before {
				t.Errorf("store changed: %+v -> %+v", before, after)
			}
		})
	}
	// Still up, still right.
	_, body := s.post(t, good, "application/ocsp-request")
	if r, err := parseResponse(t, body, shared.good.Certificate, s.services); err != nil || r.Status != xocsp.Good {
		t.Fatalf("after the bad input: %+v %v", r, err)
	}
}

type state struct {
	changes, audit int64
	certs          int
}

// storeState is what a request could change: certificates, the change
// feed and the audit log.
func storeState(t *testing.T, s *stack) state {
	t.Helper()
	ctx := context.Background()
	var st state
	var err error
	if st.changes, err = s.store.LastStatusChange(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.store.WalkAudit(ctx, func(store.AuditEntry) error { st.audit++; return nil }); err != nil {
		t.Fatal(err)
	}
	certs, err := s.store.Certificates(ctx, store.CertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	st.certs = len(certs)
	return st
}

// spliceVersion rewrites a DER OCSPRequest to carry an explicit version.
func spliceVersion(t *testing.T, der []byte, v int) []byte {
	t.Helper()
	var outer struct{ TBS asn1.RawValue }
	if _, err := asn1.Unmarshal(der, &outer); err != nil {
		t.Fatal(err)
	}
	ver, _ := asn1.Marshal(struct {
		V int `asn1:"explicit,tag:0"`
	}{v})
	// ver is SEQUENCE { [0] { INTEGER } }: keep its content only.
	var wrapped asn1.RawValue
	asn1.Unmarshal(ver, &wrapped)
	tbs, _ := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: append(wrapped.Bytes, outer.TBS.Bytes...)})
	out, _ := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: tbs})
	return out
}
