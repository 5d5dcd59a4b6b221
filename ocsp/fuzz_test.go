package ocsp

import (
	"errors"
	"testing"
)

// FuzzParseRequest feeds arbitrary bytes to the OCSPRequest parser.
// Nothing may panic, every refusal is malformedRequest, and what parses
// keeps the limits the responder relies on. The corpus in
// testdata/fuzz/FuzzParseRequest holds requests made by openssl ocsp
// (with and without a nonce) and x/crypto/ocsp (SHA-1, SHA-256), captured
// by TestCaptureFuzzCorpus.
func FuzzParseRequest(f *testing.F) {
	f.Add(reqSpec{version: -1}.der())
	f.Add([]byte{0x30, 0x03, 0x30, 0x01, 0x30})
	f.Fuzz(func(t *testing.T, der []byte) {
		req, err := parseRequest(der)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if len(req.certs) == 0 || len(req.certs) > maxCertIDs {
			t.Fatalf("%d CertIDs", len(req.certs))
		}
		if req.nonce != nil {
			if n := nonceLength(req.nonce); n < minNonce || n > maxNonce {
				t.Fatalf("nonce of %d octets accepted", n)
			}
		}
		for _, c := range req.certs {
			if c.hash != 0 && (len(c.nameHash) != c.hash.Size() || len(c.keyHash) != c.hash.Size()) {
				t.Fatalf("CertID hashes of %d and %d bytes for %v", len(c.nameHash), len(c.keyHash), c.hash)
			}
			if c.serialInt().Sign() <= 0 {
				t.Fatalf("non-positive serial %x accepted", c.serial)
			}
			if k, ok := c.key(); ok {
				if k2, ok2 := keyOf(c.serialInt()); !ok2 || k2 != k {
					t.Fatalf("key %x differs from the serial's %x", k, k2)
				}
			}
		}
	})
}

// FuzzDecodeGET feeds arbitrary paths to the GET decoder: no panic, and
// whatever decodes re-encodes to the same bytes.
func FuzzDecodeGET(f *testing.F) {
	f.Add("MEMwQTA/MD0wOzAJBgUrDgMCGgUABBQ=")
	f.Add("MEMw_QTA-")
	f.Fuzz(func(t *testing.T, s string) {
		out, err := decodeGET(s, nil)
		if err != nil {
			return
		}
		again, err := decodeGET(encodeStd(out), nil)
		if err != nil || string(again) != string(out) {
			t.Fatalf("%q decodes to %x, which does not round-trip: %x %v", s, out, again, err)
		}
	})
}
