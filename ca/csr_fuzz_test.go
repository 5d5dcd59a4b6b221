package ca

import (
	"testing"

	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/ca/profile"
)

// FuzzCSR feeds arbitrary bytes through everything issuance does with a
// CSR before signing: parsing (DER or PEM), the signature check, the key
// check, the extension check and the identifier collection. Nothing may
// panic, and every refusal must be a classified error, never an internal
// one. The corpus in testdata/fuzz/FuzzCSR holds CSRs made by openssl
// req (EC, RSA, Ed25519, odd extensions).
func FuzzCSR(f *testing.F) {
	profiles, err := profile.Load("../configs/profiles", IssuingCAs)
	if err != nil {
		f.Fatal(err)
	}
	argus, _ := profiles.Get("argus")
	signing, _ := profiles.Get("clara-signing")
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{0x30, 0x82, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, raw []byte) {
		csr, err := ParseCSR(raw)
		if err != nil {
			if caerr.KindOf(err) == caerr.Internal {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		for _, p := range []*profile.Profile{argus, signing} {
			_ = p.CheckKey(csr.PublicKey)
			_ = checkCSRExtensions(csr.CertificateRequest, p)
			if _, err := requestedIdentifiers(csr.CertificateRequest, p); err != nil && caerr.KindOf(err) == caerr.Internal {
				t.Fatalf("unclassified error: %v", err)
			}
		}
	})
}
