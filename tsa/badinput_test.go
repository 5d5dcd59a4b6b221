package tsa

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
)

// Wire shapes for building requests and reading replies in tests, after
// RFC 3161 §2.4.1-2.4.2.
type testImprint struct {
	Alg    pkix.AlgorithmIdentifier
	Digest []byte
}

type testReq struct {
	Version    int
	Imprint    testImprint
	Policy     asn1.ObjectIdentifier `asn1:"optional"`
	Nonce      asn1.RawValue         `asn1:"optional"`
	CertReq    bool                  `asn1:"optional,default:false"`
	Extensions []pkix.Extension      `asn1:"tag:0,optional"`
}

type testStatus struct {
	Status       int
	StatusString []string       `asn1:"optional,utf8"`
	FailInfo     asn1.BitString `asn1:"optional"`
}

type testResp struct {
	Status testStatus
	Token  asn1.RawValue `asn1:"optional"`
}

var (
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidMD5    = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}
	oidSHA3   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 8}
)

// goodReq is a SHA-256 request with a nonce; mutate changes it first.
func goodReq(t testing.TB, mutate func(*testReq)) []byte {
	t.Helper()
	sum := sha256.Sum256([]byte("Covina workflow result"))
	r := testReq{Version: 1, Imprint: testImprint{pkix.AlgorithmIdentifier{Algorithm: oidSHA256, Parameters: asn1.NullRawValue}, sum[:]},
		Nonce: asn1.RawValue{Tag: asn1.TagInteger, Bytes: []byte{0x12, 0x34, 0x56}}, CertReq: true}
	if mutate != nil {
		mutate(&r)
	}
	der, err := asn1.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// post sends body with a content type ("" for none) and returns the
// parsed TimeStampResp.
func post(t testing.TB, ctype string, body io.Reader) testResp {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, tsaURL, body)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != replyType {
		t.Fatalf("HTTP %d %s, want 200 %s", resp.StatusCode, resp.Header.Get("Content-Type"), replyType)
	}
	var r testResp
	if rest, err := asn1.Unmarshal(raw, &r); err != nil || len(rest) > 0 {
		t.Fatalf("the reply is not a TimeStampResp: %v", err)
	}
	return r
}

// serialOf stamps a good request and returns its serial.
func serialOf(t *testing.T) int64 {
	t.Helper()
	r := post(t, queryType, bytes.NewReader(goodReq(t, nil)))
	if r.Status.Status != int(timestamp.Granted) {
		t.Fatalf("a good request was refused: %v", r.Status.StatusString)
	}
	ts, err := timestamp.Parse(r.Token.FullBytes)
	if err != nil {
		t.Fatal(err)
	}
	return ts.SerialNumber.Int64()
}

const granted = -1

// TestBadInput: every bad request gets a rejection with the failInfo RFC
// 3161 §2.4.2 names and a message; the server keeps answering, and no
// refusal uses a serial or leaves a record.
func TestBadInput(t *testing.T) {
	good := goodReq(t, nil)
	sha1Sum := sha1.Sum([]byte("x"))
	critical := pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 99}, Critical: true, Value: []byte{0x05, 0x00}}
	nonCritical := critical
	nonCritical.Critical = false
	// 13.10 uses its own imprint so that the store can be asked whether
	// any token for it was recorded.
	extDigest := sha256.Sum256([]byte("13.10 request with a non-critical extension"))
	oversized := bytes.Repeat([]byte{0x30}, DefaultMaxRequestBytes+1)
	before := serialOf(t)
	grants := 0
	for _, tc := range []struct {
		name  string
		ctype string
		body  io.Reader
		fail  timestamp.FailureInfo // granted for none
		text  string
	}{
		{"empty body", queryType, bytes.NewReader(nil), timestamp.BadDataFormat, "body is empty"},
		{"garbage", queryType, strings.NewReader("GET / HTTP/1.1\r\n\r\n"), timestamp.BadDataFormat, "not a DER-encoded TimeStampReq"},
		{"truncated query", queryType, bytes.NewReader(good[:len(good)-5]), timestamp.BadDataFormat, "not a DER-encoded TimeStampReq"},
		{"trailing data", queryType, bytes.NewReader(append(bytes.Clone(good), 0x00)), timestamp.BadDataFormat, "not a DER-encoded TimeStampReq"},
		{"wrong content type", "application/ocsp-request", bytes.NewReader(good), timestamp.BadRequest, "Content-Type must be application/timestamp-query"},
		{"no content type", "", bytes.NewReader(good), timestamp.BadRequest, "Content-Type"},
		{"content type with parameters", "Application/Timestamp-Query; charset=binary", bytes.NewReader(good), granted, ""},
		{"body over the limit", queryType, bytes.NewReader(oversized), timestamp.BadDataFormat, "larger than 4096 bytes"},
		{"body over the limit, chunked", queryType, io.MultiReader(bytes.NewReader(oversized)), timestamp.BadDataFormat, "larger than 4096 bytes"},
		{"unknown hash OID", queryType, bytes.NewReader(goodReq(t, func(r *testReq) { r.Imprint.Alg.Algorithm = oidSHA3 })), timestamp.BadAlgorithm, "hash algorithm 2.16.840.1.101.3.4.2.8 is unknown"},
		{"SHA-1", queryType, bytes.NewReader(goodReq(t, func(r *testReq) { r.Imprint = testImprint{pkix.AlgorithmIdentifier{Algorithm: oidSHA1}, sha1Sum[:]} })), timestamp.BadAlgorithm, "SHA-1 message imprints are not accepted"},
		{"MD5", queryType, bytes.NewReader(goodReq(t, func(r *testReq) { r.Imprint = testImprint{pkix.AlgorithmIdentifier{Algorithm: oidMD5}, sha1Sum[:16]} })), timestamp.BadAlgorithm, "MD5 message imprints are not accepted"},
		{"hash parameters not NULL", queryType, bytes.NewReader(goodReq(t, func(r *testReq) { r.Imprint.Alg.Parameters = asn1.RawValue{FullBytes: []byte{0x02, 0x01, 0x01}} })), timestamp.BadAlgorithm, "absent or NULL"},
		{"wrong digest length", queryType, bytes.NewReader(goodReq(t, func(r *testReq) { r.Imprint.Digest = sha1Sum[:] })), timestamp.BadDataFormat, "SHA-256 digest has 32 bytes; this one has 20"},
		{"empty digest", queryType, bytes.NewReader(goodReq(t, func(r *testReq) { r.Imprint.Digest = []byte{} })), timestamp.BadDataFormat, "this one has 0"},
		{"unsupported critical extension", queryType, bytes.NewReader(goodReq(t, func(r *testReq) { r.Extensions = []pkix.Extension{nonCritical, critical} })), timestamp.UnacceptedExtension, "critical extension 1.3.6.1.4.1.32473.99 is not supported"},
		{"13.10 non-critical unknown extension is refused", queryType, bytes.NewReader(goodReq(t, func(r *testReq) { r.Imprint.Digest, r.Extensions = extDigest[:], []pkix.Extension{nonCritical} })), timestamp.UnacceptedExtension, "extension 1.3.6.1.4.1.32473.99 is not supported"},
		{"policy not offered", queryType, bytes.NewReader(goodReq(t, func(r *testReq) { r.Policy = asn1.ObjectIdentifier{1, 2, 3, 4} })), timestamp.UnacceptedPolicy, "policy 1.2.3.4 is not offered; this TSA offers " + policyOID.String()},
		{"version 2", queryType, bytes.NewReader(goodReq(t, func(r *testReq) { r.Version = 2 })), timestamp.BadDataFormat, "version 2 is not v1"},
		{"nonce not minimal", queryType, bytes.NewReader(goodReq(t, func(r *testReq) { r.Nonce.Bytes = []byte{0x00, 0x12} })), timestamp.BadDataFormat, "nonce is not a DER INTEGER"},
		{"negative nonce", queryType, bytes.NewReader(goodReq(t, func(r *testReq) { r.Nonce.Bytes = []byte{0x80, 0x01} })), granted, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, tc.ctype, tc.body)
			if tc.fail == granted {
				if r.Status.Status != int(timestamp.Granted) || len(r.Token.FullBytes) == 0 {
					t.Fatalf("refused: %d %v", r.Status.Status, r.Status.StatusString)
				}
				grants++
				return
			}
			if r.Status.Status != int(timestamp.Rejection) || len(r.Token.FullBytes) != 0 {
				t.Fatalf("status %d with %d token bytes, want a rejection without token", r.Status.Status, len(r.Token.FullBytes))
			}
			if r.Status.FailInfo.At(int(tc.fail)) != 1 || setBits(r.Status.FailInfo) != 1 || r.Status.FailInfo.BitLength != int(tc.fail)+1 {
				t.Errorf("failInfo %x (%d bits), want only bit %d (%v) in DER form", r.Status.FailInfo.Bytes, r.Status.FailInfo.BitLength, tc.fail, tc.fail)
			}
			if len(r.Status.StatusString) != 1 || !strings.Contains(r.Status.StatusString[0], tc.text) {
				t.Errorf("statusString %q does not say %q", r.Status.StatusString, tc.text)
			}
			// The server still answers.
			serialOf(t)
			grants++
		})
	}
	if after := serialOf(t); after != before+int64(grants)+1 {
		t.Errorf("serials went from %d to %d over %d grants: a refusal used a serial", before, after, grants)
	}
	if recs, err := records.TimestampsByImprint(t.Context(), extDigest[:]); err != nil || len(recs) != 0 {
		t.Errorf("13.10: %d token records for the refused request (err %v), want none", len(recs), err)
	}
}

func setBits(b asn1.BitString) int {
	n := 0
	for i := range b.BitLength {
		n += b.At(i)
	}
	return n
}

// TestGrantedFields: a granted reply echoes the nonce and the imprint,
// carries the chain for certReq and the offered policy asked for.
func TestGrantedFields(t *testing.T) {
	nonce := new(big.Int).Lsh(big.NewInt(1), 200)
	body := goodReq(t, func(r *testReq) {
		r.Nonce = asn1.RawValue{FullBytes: mustMarshal(t, nonce)}
		r.Policy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 3161, 1}
	})
	r := post(t, queryType, bytes.NewReader(body))
	ts, err := timestamp.Parse(r.Token.FullBytes) // verifies the signature with the included certificate
	if err != nil {
		t.Fatal(err)
	}
	if ts.Nonce.Cmp(nonce) != 0 || ts.Policy.String() != policyOID.String() || len(ts.Certificates) != 2 || ts.Accuracy.String() != "1.5s" {
		t.Fatalf("nonce %v policy %v certificates %d accuracy %v", ts.Nonce, ts.Policy, len(ts.Certificates), ts.Accuracy)
	}
	recs, err := records.TimestampsByImprint(t.Context(), ts.HashedMessage)
	if err != nil || len(recs) == 0 {
		t.Fatalf("no record of the token: %v", err)
	}
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEngineRefusals: what the engine refuses reaches the client through
// the one kind table, here an engine whose time-stamping is not enabled
// (caerr.Unavailable → systemFailure) and one whose clock is past the TSA
// certificate's validity.
func TestEngineRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		enable bool
		now    func() time.Time
		text   string
	}{
		{"time-stamping not enabled", false, nil, "time-stamping is not enabled"},
		{"TSA certificate expired", true, func() time.Time { return time.Now().AddDate(10, 0, 0) }, "the TSA certificate is not valid at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := openEngine(t, tc.now)
			if tc.enable {
				if err := e.EnableTimestamps(t.Context(), records); err != nil {
					t.Fatal(err)
				}
			}
			h, err := New(e, testTSAConfig(), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			s := httptest.NewServer(h)
			defer s.Close()
			resp, err := http.Post(s.URL, queryType, bytes.NewReader(goodReq(t, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var r testResp
			if _, err := asn1.Unmarshal(raw, &r); err != nil {
				t.Fatal(err)
			}
			if r.Status.Status != int(timestamp.Rejection) || r.Status.FailInfo.At(int(timestamp.SystemFailure)) != 1 ||
				len(r.Status.StatusString) != 1 || !strings.Contains(r.Status.StatusString[0], tc.text) {
				t.Fatalf("status %d failInfo %x %q, want systemFailure saying %q", r.Status.Status, r.Status.FailInfo.Bytes, r.Status.StatusString, tc.text)
			}
		})
	}
}
