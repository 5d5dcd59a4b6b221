package ca_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/internal/testtool"
)

var oidIDP = asn1.ObjectIdentifier{2, 5, 29, 28}

// idpOf returns a CRL's issuing distribution point: its URL and scope.
func idpOf(t *testing.T, crl *x509.RevocationList) (url string, userOnly, caOnly, present bool) {
	t.Helper()
	for _, e := range crl.Extensions {
		if !e.Id.Equal(oidIDP) {
			continue
		}
		if !e.Critical {
			t.Error("issuing distribution point is not critical")
		}
		var idp struct {
			DP struct {
				FullName asn1.RawValue `asn1:"tag:0"`
			} `asn1:"tag:0,optional"`
			UserOnly bool `asn1:"tag:1,optional"`
			CAOnly   bool `asn1:"tag:2,optional"`
		}
		if _, err := asn1.Unmarshal(e.Value, &idp); err != nil {
			t.Fatal(err)
		}
		if len(idp.DP.FullName.Bytes) == 0 {
			return "", idp.UserOnly, idp.CAOnly, true // no distribution point (the root's ARL)
		}
		var uri asn1.RawValue
		if _, err := asn1.Unmarshal(idp.DP.FullName.Bytes, &uri); err != nil || uri.Tag != 6 {
			t.Fatalf("IDP full name %x: %v", idp.DP.FullName.Bytes, err)
		}
		return string(uri.Bytes), idp.UserOnly, idp.CAOnly, true
	}
	return "", false, false, false
}

// lintCRL runs zlint's CRL lints; an error or a warning fails the test.
func lintCRL(t *testing.T, der []byte) {
	t.Helper()
	zc, err := zx509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("zcrypto cannot parse the CRL: %v", err)
	}
	for name, r := range zlint.LintRevocationList(zc).Results {
		if r.Status >= lint.Warn {
			t.Errorf("zlint %s: %s %s", name, r.Status, r.Details)
		}
	}
}

func parseCRL(t *testing.T, c *ca.CRL, issuer *x509.Certificate) *x509.RevocationList {
	t.Helper()
	der := c.Bytes()
	if len(der) != c.Size() {
		t.Errorf("Size() = %d, CRL is %d bytes", c.Size(), len(der))
	}
	var w bytes.Buffer
	if _, err := c.WriteTo(&w); err != nil || !bytes.Equal(w.Bytes(), der) {
		t.Fatalf("WriteTo wrote %d bytes, %v", w.Len(), err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		t.Fatal(err)
	}
	lintCRL(t, der)
	return crl
}

func crlSerials(crl *x509.RevocationList) map[string]int {
	out := map[string]int{}
	for _, e := range crl.RevokedCertificateEntries {
		out[ca.FormatSerial(e.SerialNumber)] = e.ReasonCode
	}
	return out
}

// TestCRLKeyTypes signs CRLs with every key type a CA can have, with
// entries, without, and at the size where DER lengths take more bytes.
func TestCRLKeyTypes(t *testing.T) {
	for _, kt := range []keys.Type{keys.ECDSAP256, keys.ECDSAP384, keys.RSA2048, keys.Ed25519} {
		t.Run(string(kt), func(t *testing.T) {
			hc := ca.DefaultHierarchy()
			hc.Root.KeyType, hc.Services.KeyType = kt, kt
			f := newFixture(t, hc)
			ctx := context.Background()
			services, _ := f.engine.CACert(ca.ServicesCA)
			empty, err := f.engine.BuildCRL(ctx, ca.ServicesCA, 0)
			if err != nil {
				t.Fatal(err)
			}
			if crl := parseCRL(t, empty, services); len(crl.RevokedCertificateEntries) != 0 {
				t.Errorf("empty CRL has %d entries", len(crl.RevokedCertificateEntries))
			}
			want := map[string]int{}
			for i := range 3 {
				iss, err := f.engine.Issue(ctx, ca.IssueRequest{Profile: "argus", CSR: makeCSR(t, csrSpec{dns: []string{"a.argus.test"}}), Requester: operator()})
				if err != nil {
					t.Fatal(err)
				}
				reason := []ca.RevocationReason{ca.Unspecified, ca.KeyCompromise, ca.CessationOfOperation}[i]
				if err := f.engine.Revoke(ctx, iss.Certificate.SerialNumber, reason, operator()); err != nil {
					t.Fatal(err)
				}
				want[iss.Serial] = int(reason)
			}
			c, err := f.engine.BuildCRL(ctx, ca.ServicesCA, 0)
			if err != nil {
				t.Fatal(err)
			}
			crl := parseCRL(t, c, services)
			if got := crlSerials(crl); !maps.Equal(got, want) {
				t.Errorf("CRL entries %v, want %v", got, want)
			}
			if c.Entries != 3 || c.Number <= empty.Number || crl.Number.Int64() != c.Number {
				t.Errorf("entries %d, number %d after %d (parsed %v)", c.Entries, c.Number, empty.Number, crl.Number)
			}
			if url, userOnly, _, ok := idpOf(t, crl); !ok || url != "http://127.0.0.1:8080/crl/services.crl" || !userOnly {
				t.Errorf("IDP %q userOnly=%v present=%v", url, userOnly, ok)
			}
			root, err := f.engine.BuildCRL(ctx, ca.RootCA, 0)
			if err != nil {
				t.Fatal(err)
			}
			rootCRL := parseCRL(t, root, f.engine.Root())
			if url, _, caOnly, ok := idpOf(t, rootCRL); !ok || url != "" || !caOnly {
				t.Errorf("root IDP %q caOnly=%v present=%v", url, caOnly, ok)
			}
			if !bytes.Equal(rootCRL.AuthorityKeyId, f.engine.Root().SubjectKeyId) {
				t.Error("root CRL's AKI is not the root's SKI")
			}
		})
	}
}

// TestCRLShards: certificates name their shard, each shard lists only
// its own revocations under a matching IDP, the full CRL lists all and
// has no IDP, and openssl agrees.
func TestCRLShards(t *testing.T) {
	openssl := testtool.Need(t, "openssl")
	f := newFixture(t, ca.DefaultHierarchy())
	cfg := testConfig()
	cfg.CRLShards = 3
	e := reopen(t, f, cfg, ca.Options{})
	ctx := context.Background()
	services, _ := e.CACert(ca.ServicesCA)

	type leaf struct {
		iss     *ca.Issued
		shard   int
		revoked bool
	}
	var leaves []leaf
	seen := map[int]bool{}
	for i := 0; i < 40 && (len(seen) < 3 || len(leaves) < 6); i++ {
		iss, err := e.Issue(ctx, ca.IssueRequest{Profile: "argus", CSR: makeCSR(t, csrSpec{dns: []string{"s.argus.test"}}), Requester: operator()})
		if err != nil {
			t.Fatal(err)
		}
		dp := iss.Certificate.CRLDistributionPoints
		var shard int
		if len(dp) != 1 || !strings.HasPrefix(dp[0], "http://127.0.0.1:8080/crl/services/") {
			t.Fatalf("CRL DP %v", dp)
		}
		if _, err := fmt.Sscanf(strings.TrimPrefix(dp[0], "http://127.0.0.1:8080/crl/services/"), "%d.crl", &shard); err != nil || shard < 1 || shard > 3 {
			t.Fatalf("CRL DP %v: shard %d %v", dp, shard, err)
		}
		rec, err := f.store.Certificate(ctx, iss.Serial)
		if err != nil || rec.CRLShard != shard {
			t.Fatalf("stored shard %d, certificate says %d (%v)", rec.CRLShard, shard, err)
		}
		seen[shard] = true
		leaves = append(leaves, leaf{iss: iss, shard: shard, revoked: i%2 == 0})
	}
	if len(seen) < 3 {
		t.Fatalf("40 issuances used shards %v only", seen)
	}
	for _, l := range leaves {
		if l.revoked {
			if err := e.Revoke(ctx, l.iss.Certificate.SerialNumber, ca.Superseded, operator()); err != nil {
				t.Fatal(err)
			}
		}
	}

	dir := t.TempDir()
	root, inter := filepath.Join(dir, "root.pem"), filepath.Join(dir, "services.pem")
	writePEM(t, root, e.Root().Raw)
	writePEM(t, inter, services.Raw)
	crlFiles := map[int]string{}
	for shard := 0; shard <= 3; shard++ {
		c, err := e.BuildCRL(ctx, ca.ServicesCA, shard)
		if err != nil {
			t.Fatal(err)
		}
		crl := parseCRL(t, c, services)
		got := crlSerials(crl)
		for _, l := range leaves {
			_, listed := got[l.iss.Serial]
			if want := l.revoked && (shard == 0 || shard == l.shard); listed != want {
				t.Errorf("shard %d: %s (shard %d, revoked %v) listed=%v", shard, l.iss.Serial, l.shard, l.revoked, listed)
			}
		}
		url, userOnly, _, ok := idpOf(t, crl)
		switch {
		case shard == 0 && ok:
			t.Errorf("full CRL of a sharded CA has an IDP %q", url)
		case shard > 0 && (!ok || !userOnly || url != "http://127.0.0.1:8080/crl/services/"+strconv.Itoa(shard)+".crl"):
			t.Errorf("shard %d IDP %q userOnly=%v present=%v", shard, url, userOnly, ok)
		}
		crlFiles[shard] = filepath.Join(dir, "shard"+strconv.Itoa(shard)+".crl")
		if err := os.WriteFile(crlFiles[shard], c.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []int{-1, 4} {
		if _, err := e.BuildCRL(ctx, ca.ServicesCA, bad); err == nil {
			t.Errorf("shard %d built", bad)
		}
	}
	if _, err := e.BuildCRL(ctx, ca.RootCA, 1); err == nil {
		t.Error("the root has shards")
	}

	// openssl refuses a revoked certificate with its shard's CRL and with
	// the full CRL, accepts a good one, and finds another shard's CRL not
	// applicable: its IDP names another URL ("different CRL scope").
	for i, l := range leaves[:4] {
		leafPEM := filepath.Join(dir, "leaf"+strconv.Itoa(i)+".pem")
		writePEM(t, leafPEM, l.iss.Certificate.Raw)
		other := 1 + l.shard%3
		for _, tc := range []struct {
			crl  int
			want string
		}{
			{l.shard, map[bool]string{true: "certificate revoked", false: ": OK"}[l.revoked]},
			{0, map[bool]string{true: "certificate revoked", false: ": OK"}[l.revoked]},
			{other, "different CRL scope"},
		} {
			out, _ := exec.Command(openssl, "verify", "-crl_check", "-CRLfile", crlFiles[tc.crl], "-CAfile", root, "-untrusted", inter, leafPEM).CombinedOutput()
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("leaf in shard %d (revoked %v) against CRL %d: want %q:\n%s", l.shard, l.revoked, tc.crl, tc.want, out)
			}
		}
	}
}

// TestCRLDropsLongExpired: an entry stays until its certificate has been
// expired for a whole CRL period, then leaves the list.
func TestCRLDropsLongExpired(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	ctx := context.Background()
	iss, err := f.engine.Issue(ctx, ca.IssueRequest{Profile: "argus", CSR: makeCSR(t, csrSpec{dns: []string{"old.argus.test"}}), Requester: operator()})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.engine.Revoke(ctx, iss.Certificate.SerialNumber, ca.KeyCompromise, operator()); err != nil {
		t.Fatal(err)
	}
	services, _ := f.engine.CACert(ca.ServicesCA)
	for _, tc := range []struct {
		name   string
		at     time.Time
		listed bool
	}{
		{"just expired", iss.Certificate.NotAfter.Add(time.Hour), true},
		{"expired a period ago", iss.Certificate.NotAfter.Add(25 * time.Hour), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Now = func() time.Time { return tc.at }
			c, err := reopen(t, f, cfg, ca.Options{}).BuildCRL(ctx, ca.ServicesCA, 0)
			if err != nil {
				t.Fatal(err)
			}
			crl, err := x509.ParseRevocationList(c.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if err := crl.CheckSignatureFrom(services); err != nil {
				t.Fatal(err)
			}
			if _, listed := crlSerials(crl)[iss.Serial]; listed != tc.listed {
				t.Errorf("listed = %v, want %v", listed, tc.listed)
			}
		})
	}
}
