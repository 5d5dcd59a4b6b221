package profile

import (
	"crypto/ed25519"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzLoadProfile runs the strict YAML decoder and the validation over
// arbitrary input. It must never panic; every error must name the file; and
// whatever it accepts must satisfy the schema's invariants.
func FuzzLoadProfile(f *testing.F) {
	files, err := filepath.Glob("../../configs/profiles/*.yaml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed templates: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(validYAML))
	f.Add([]byte(signingYAML))
	f.Add([]byte("- a\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("keys: [{type: rsa, min_bits: abc}]\nvalidity: 1h\nvalidity: 2h\n"))

	const file = "fuzz/svc.yaml"
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(file, data, testIssuers)
		if err != nil {
			for line := range strings.SplitSeq(err.Error(), "\n") {
				if !strings.HasPrefix(line, file+": ") {
					t.Fatalf("error line does not name the file: %q", line)
				}
			}
			return
		}
		switch {
		case p.Validity <= 0 || p.Validity > maxValidity:
			t.Fatalf("validity %v accepted", p.Validity)
		case p.Backdate < 0 || p.Backdate >= p.Validity:
			t.Fatalf("backdate %v accepted with validity %v", p.Backdate, p.Validity)
		case !(p.RenewalFraction > 0 && p.RenewalFraction < 1):
			t.Fatalf("renewal_fraction %v accepted", p.RenewalFraction)
		case len(p.Keys) == 0 || len(p.Protocols) == 0 || p.KeyUsage == 0 || len(p.ExtKeyUsage) == 0:
			t.Fatal("empty required list accepted")
		case p.MaxNames < 1 || p.MaxNames > maxMaxNames:
			t.Fatalf("max_names %d accepted", p.MaxNames)
		}
		for _, pat := range p.DNSPatterns {
			if err := p.CheckDNSName(strings.TrimPrefix(pat, "*.")); err != nil && !strings.HasPrefix(pat, "*.") {
				t.Fatalf("exact pattern %q does not match itself: %v", pat, err)
			}
		}
		for _, pfx := range p.IPPrefixes {
			if err := p.CheckIP(pfx.Addr()); err != nil {
				t.Fatalf("prefix %v does not contain its address: %v", pfx, err)
			}
		}
		_ = p.CheckIP(netip.MustParseAddr("::ffff:127.0.0.1"))
		_ = p.CheckSubject("clara-x")
		_ = p.CheckKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))
		_ = p.KeyUsageFor(rsaKey(2048, 65537))
		nb := time.Unix(0, 0)
		if s, e := p.RenewalWindow(nb, nb.Add(p.Validity)); s.After(e) || e.After(nb.Add(p.Validity)) {
			t.Fatalf("renewal window %v..%v", s, e)
		}
	})
}
