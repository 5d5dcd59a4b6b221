package harness

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func ParsePEMCerts(t testing.TB, s string) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return out
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

// AssertNoPlainKeys checks that nothing in the data directory holds a
// private key in plain form: no PEM private key, no PKCS#8 DER.
func AssertNoPlainKeys(t testing.TB, data string) {
	t.Helper()
	filepath.Walk(data, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), "PRIVATE KEY") {
			t.Errorf("%s contains a PEM private key", p)
		}
		return nil
	})
}
