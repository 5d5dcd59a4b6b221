package acme

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vcc/vccpki/ca"
)

// FuzzRequestBody feeds arbitrary bytes through everything the server does
// with a POST body before it touches the store: the JWS envelope, the
// protected header, the embedded JWK and the signature check, then each
// resource's payload parsing (accounts with their external account
// binding, key change, orders with identifier checks, finalize, revoke).
// Nothing may panic. The corpus in testdata/fuzz/FuzzRequestBody is real
// traffic captured from certbot 2.1, lego 4.35.2, golang.org/x/crypto/acme
// and the bad-input table (VCCPKI_ACME_CAPTURE=dir go test ./acme).
func FuzzRequestBody(f *testing.F) {
	f.Add([]byte(`{"protected":"e30","payload":"","signature":""}`))
	f.Add([]byte(`{"payload":"","signatures":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		j, p := parseJWS(body)
		if p != nil {
			if p.Type == "" || p.Status == 0 {
				t.Fatalf("problem without type or status: %+v", p)
			}
			return
		}
		_ = checkAlg(j.header.Alg)
		if len(j.header.JWK) > 0 {
			if k, p := parseJWK(j.header.JWK); p == nil {
				_ = j.verify(k)
			}
		}
		_ = j.verifyMAC([]byte("key"))
		var acct newAccountPayload
		if json.Unmarshal(j.payload, &acct) == nil {
			_ = checkContacts(acct.Contact)
			if len(acct.ExternalAccountBinding) > 0 {
				if inner, p := parseJWS(acct.ExternalAccountBinding); p == nil {
					_, _ = parseJWK(inner.payload)
				}
			}
		}
		if inner, p := parseJWS(j.payload); p == nil { // keyChange
			var kc struct {
				Account string          `json:"account"`
				OldKey  json.RawMessage `json:"oldKey"`
			}
			if json.Unmarshal(inner.payload, &kc) == nil {
				_, _ = parseJWK(kc.OldKey)
			}
		}
		var ord newOrderPayload
		if json.Unmarshal(j.payload, &ord) == nil {
			if ids, p := normalizeIdentifiers(ord.Identifiers); p == nil {
				for _, id := range ids {
					if id.Type == "dns" && checkDNSName(id.Value) != nil {
						t.Fatalf("normalizeIdentifiers let %q through", id.Value)
					}
				}
			}
			if ord.Replaces != "" {
				_, _, _ = certIDSerial(ord.Replaces)
			}
		}
		var fin struct {
			CSR string `json:"csr"`
		}
		if json.Unmarshal(j.payload, &fin) == nil && fin.CSR != "" {
			if der, err := b64.DecodeString(strings.TrimRight(fin.CSR, "=")); err == nil {
				if csr, err := ca.ParseCSR(der); err == nil {
					_ = csrMatchesOrder(csrIdentifiers(csr.CertificateRequest), ord.Identifiers)
				}
			}
		}
	})
}

// FuzzCertID checks the RFC 9773 certificate ID parser.
func FuzzCertID(f *testing.F) {
	f.Add("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
	f.Add(".")
	f.Fuzz(func(t *testing.T, id string) {
		aki, serial, err := certIDSerial(id)
		if err == nil && (len(aki) == 0 || serial.Sign() <= 0 || serial.BitLen() > 160) {
			t.Fatalf("%q: accepted AKI %x serial %v", id, aki, serial)
		}
	})
}
