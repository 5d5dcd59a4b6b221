package ca_test

import (
	"context"
	"encoding/pem"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/internal/testtool"
)

// identifiersFor makes names a profile allows: each exact pattern, a host
// under each wildcard pattern, and one address from each prefix.
func identifiersFor(p *profile.Profile) (dns, ips []string) {
	for _, pat := range p.DNSPatterns {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			dns = append(dns, "host1."+rest)
		} else {
			dns = append(dns, pat)
		}
	}
	for _, pfx := range p.IPPrefixes {
		ips = append(ips, pfx.Addr().Next().String())
		if pfx.Bits() == pfx.Addr().BitLen() {
			ips[len(ips)-1] = pfx.Addr().String()
		}
	}
	if len(dns)+len(ips) > p.MaxNames {
		if len(dns) > p.MaxNames-1 {
			dns = dns[:p.MaxNames-1]
		}
		ips = ips[:1]
	}
	return dns, ips
}

// TestEveryProfile issues from every profile template and shows that
// `openssl verify` accepts each certificate with the root as the only
// trust anchor, and that zlint (every source, not just the ones the engine
// enforces) finds no error or warning beyond the profile's documented
// lint_ignore list.
func TestEveryProfile(t *testing.T) {
	openssl := testtool.Need(t, "openssl")
	f := newFixture(t, ca.DefaultHierarchy())
	dir := t.TempDir()
	rootPEM := filepath.Join(dir, "root.pem")
	writePEM(t, rootPEM, f.engine.Root().Raw)
	for _, p := range f.engine.Profiles().All() {
		t.Run(p.Name, func(t *testing.T) {
			spec := csrSpec{}
			if p.SubjectPattern != "" {
				spec.cn = strings.ReplaceAll(p.SubjectPattern, "*", "model-7")
				spec.uris = p.URIs
			} else {
				spec.dns, spec.ips = identifiersFor(p)
			}
			iss, err := f.engine.Issue(context.Background(), ca.IssueRequest{Profile: p.Name, CSR: makeCSR(t, spec), Requester: operator()})
			if err != nil {
				t.Fatal(err)
			}
			if len(iss.Warnings) > 0 {
				t.Errorf("lint warnings: %v", iss.Warnings)
			}
			leaf := filepath.Join(dir, p.Name+".pem")
			chain := filepath.Join(dir, p.Name+"-chain.pem")
			writePEM(t, leaf, iss.Certificate.Raw)
			writePEM(t, chain, iss.Chain[0].Raw)
			purpose := "sslserver"
			if len(p.URIs) > 0 {
				purpose = "sslclient"
			} else if p.SubjectPattern != "" {
				purpose = "any"
			}
			out, err := exec.Command(openssl, "verify", "-purpose", purpose, "-CAfile", rootPEM, "-untrusted", chain, leaf).CombinedOutput()
			if err != nil || !strings.Contains(string(out), ": OK") {
				t.Errorf("openssl verify: %v\n%s", err, out)
			}
			for _, name := range iss.Certificate.DNSNames {
				if _, err := netip.ParseAddr(name); err == nil {
					t.Errorf("IP %s written as a DNS name", name)
				}
			}
			lintAll(t, iss.Certificate.Raw, ca.IgnoredLints(p))
		})
	}
	t.Run("hierarchy", func(t *testing.T) {
		for _, name := range []string{ca.RootCA, ca.ServicesCA, ca.CodeSigningCA, ca.OCSPResponderName(ca.ServicesCA), ca.OCSPResponderName(ca.CodeSigningCA), ca.AdminCA, ca.OCSPResponderName(ca.AdminCA), ca.TSAName, ca.HTTPSName} {
			t.Run(name, func(t *testing.T) {
				c, _ := f.engine.CACert(name)
				lintAll(t, c.Raw, ca.HierarchyLintIgnore(name))
			})
		}
	})
}

// lintAll runs every registered zlint lint except the ones named.
func lintAll(t *testing.T, der []byte, ignore []string) {
	t.Helper()
	zc, err := zx509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := lint.GlobalRegistry().Filter(lint.FilterOptions{ExcludeNames: ignore})
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range zlint.LintCertificateEx(zc, reg).Results {
		if r.Status >= lint.Warn {
			t.Errorf("zlint %s: %s %s", name, r.Status, r.Details)
		}
	}
}

func writePEM(t *testing.T, path string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
