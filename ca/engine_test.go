package ca_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite"
)

// testKDF keeps argon2id cheap in tests; production uses keys.DefaultKDF.
var testKDF = keys.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

const testPassphrase = "correct horse battery staple"

type fixture struct {
	engine      *ca.Engine
	store       store.Store
	dir         string
	hc          ca.HierarchyConfig
	profilesDir string
}

// newFixture bootstraps a hierarchy in a fresh SQLite file and opens the
// engine on the real profile templates.
func newFixture(t testing.TB, hc ca.HierarchyConfig) *fixture {
	t.Helper()
	hc.Locality = "Berlin"
	dir := t.TempDir()
	return openFixture(t, dir, hc)
}

func openFixture(t testing.TB, dir string, hc ca.HierarchyConfig) *fixture {
	t.Helper()
	return openFixtureProfiles(t, dir, hc, "../configs/profiles")
}

// openFixtureProfiles is openFixture with the profile templates of
// profilesDir.
func openFixtureProfiles(t testing.TB, dir string, hc ca.HierarchyConfig, profilesDir string) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "vccpki.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	issuers, err := ca.IssuingCANames(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	profiles, err := profile.Load(profilesDir, issuers)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ca.Config{PublicURL: "http://127.0.0.1:8080", Hierarchy: hc}
	var kek *keys.KEK
	rec, err := st.Key(ctx, keys.KEKRecordID)
	if err == nil {
		kek, err = keys.OpenKEK([]byte(testPassphrase), rec.Sealed)
		if err != nil {
			t.Fatal(err)
		}
	} else {
		var params []byte
		kek, params, err = keys.NewKEK([]byte(testPassphrase), testKDF)
		if err != nil {
			t.Fatal(err)
		}
		created, err := ca.Bootstrap(ctx, st, keys.NewSoftware(kek, st), cfg, "test", store.KeyRecord{ID: keys.KEKRecordID, Algorithm: keys.KDFAlgorithm, Sealed: params})
		if err != nil || !created {
			t.Fatalf("bootstrap: created=%v err=%v", created, err)
		}
	}
	e, err := ca.Open(ctx, st, keys.NewSoftware(kek, st), profiles, cfg, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{engine: e, store: st, dir: dir, hc: hc, profilesDir: profilesDir}
}

type csrSpec struct {
	key   crypto.Signer
	cn    string
	dns   []string
	ips   []string
	uris  []string
	extra []pkix.Extension
}

func makeCSR(t testing.TB, s csrSpec) []byte {
	t.Helper()
	if s.key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s.key = k
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: s.cn}, DNSNames: s.dns, ExtraExtensions: s.extra}
	for _, ip := range s.ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	for _, u := range s.uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, s.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func operator() ca.Requester { return ca.Requester{Protocol: ca.ProtocolOperator, Subject: "test"} }

func TestHierarchy(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	root := f.engine.Root()
	pool := x509.NewCertPool()
	pool.AddCert(root)
	for _, tc := range []struct {
		name  string
		usage x509.ExtKeyUsage
		isCA  bool
	}{
		{ca.ServicesCA, x509.ExtKeyUsageServerAuth, true},
		{ca.CodeSigningCA, x509.ExtKeyUsageCodeSigning, true},
		{ca.OCSPResponderName(ca.ServicesCA), x509.ExtKeyUsageOCSPSigning, false},
		{ca.OCSPResponderName(ca.CodeSigningCA), x509.ExtKeyUsageOCSPSigning, false},
		{ca.AdminCA, x509.ExtKeyUsageClientAuth, true},
		{ca.OCSPResponderName(ca.AdminCA), x509.ExtKeyUsageOCSPSigning, false},
		{ca.TSAName, x509.ExtKeyUsageTimeStamping, false},
		{ca.HTTPSName, x509.ExtKeyUsageServerAuth, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := f.engine.CACert(tc.name)
			if !ok {
				t.Fatalf("no %s certificate", tc.name)
			}
			if c.IsCA != tc.isCA {
				t.Errorf("IsCA = %v", c.IsCA)
			}
			inter := x509.NewCertPool()
			for _, ic := range f.engine.Chain(tc.name) {
				inter.AddCert(ic)
			}
			opts := x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{tc.usage}}
			if tc.usage == x509.ExtKeyUsageOCSPSigning {
				// Responder certificates are checked by OCSP clients as
				// issued directly by the CA with id-kp-OCSPSigning (RFC 6960
				// §4.2.2.2); the CA's own EKU need not list it.
				if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageOCSPSigning {
					t.Errorf("responder EKU = %v", c.ExtKeyUsage)
				}
				opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
			}
			if tc.name == ca.TSAName {
				// crypto/x509 does not read a critical EKU it wrote by hand
				// back into ExtKeyUsage: check the raw extension instead.
				opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
				checkCriticalTimestampEKU(t, c)
			}
			if _, err := c.Verify(opts); err != nil {
				t.Errorf("does not verify to the root: %v", err)
			}
		})
	}
	https, _ := f.engine.CACert(ca.HTTPSName)
	if err := https.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	if err := https.VerifyHostname("::1"); err != nil {
		t.Error(err)
	}
	if err := https.VerifyHostname("localhost"); err != nil {
		t.Error(err)
	}
}

func checkCriticalTimestampEKU(t *testing.T, c *x509.Certificate) {
	t.Helper()
	for _, ext := range c.Extensions {
		if ext.Id.String() == "2.5.29.37" {
			if !ext.Critical {
				t.Error("TSA EKU is not critical")
			}
			if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping {
				t.Errorf("TSA EKU = %v, want time stamping only", c.ExtKeyUsage)
			}
			return
		}
	}
	t.Error("TSA certificate has no EKU")
}

func TestKeyTypes(t *testing.T) {
	for _, kt := range []keys.Type{keys.ECDSAP384, keys.RSA3072, keys.Ed25519} {
		t.Run(string(kt), func(t *testing.T) {
			hc := ca.DefaultHierarchy()
			all := []*ca.CertConfig{&hc.Root, &hc.Services, &hc.CodeSigning, &hc.OCSP, &hc.TSA, &hc.HTTPS}
			if kt == keys.RSA3072 {
				all = all[:2] // RSA key generation is slow; root and Services CA show it
			}
			for _, cc := range all {
				cc.KeyType = kt
			}
			f := newFixture(t, hc)
			if got, _ := keys.TypeOf(f.engine.Root().PublicKey); got != kt {
				t.Errorf("root key = %s, want %s", got, kt)
			}
			iss, err := f.engine.Issue(context.Background(), ca.IssueRequest{Profile: "argus", CSR: makeCSR(t, csrSpec{dns: []string{"x.argus.test"}}), Requester: operator()})
			if err != nil {
				t.Fatal(err)
			}
			if iss.Certificate.NotAfter.Sub(iss.Certificate.NotBefore) < time.Hour {
				t.Error("implausible validity")
			}
		})
	}
}

func TestRenewHTTPS(t *testing.T) {
	f := newFixture(t, ca.DefaultHierarchy())
	ctx := context.Background()
	first, _ := f.engine.CACert(ca.HTTPSName)
	if renewed, err := f.engine.RenewHTTPS(ctx, "test"); err != nil || renewed {
		t.Fatalf("fresh certificate renewed=%v err=%v", renewed, err)
	}
	for _, tc := range []struct {
		name  string
		shift time.Duration
		names []string
		renew bool
	}{
		{"half-way through its life", 45 * 24 * time.Hour, nil, false},
		{"a third of its life left", 61 * 24 * time.Hour, nil, true},
		{"a new configured name", 0, []string{"ca.vcc.internal"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Hierarchy.HTTPSNames = tc.names
			cfg.Now = func() time.Time { return time.Now().Add(tc.shift) }
			e := reopen(t, f, cfg, ca.Options{})
			renewed, err := e.RenewHTTPS(ctx, "test")
			if err != nil || renewed != tc.renew {
				t.Fatalf("renewed=%v err=%v, want %v", renewed, err, tc.renew)
			}
			tc2, err := e.TLSCertificate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if renewed == tc2.Leaf.Equal(first) {
				t.Error("served certificate does not match the renewal")
			}
			for _, n := range tc.names {
				if err := tc2.Leaf.VerifyHostname(n); err != nil {
					t.Error(err)
				}
			}
			if len(tc2.Certificate) != 2 {
				t.Errorf("chain of %d certificates, want leaf and Services CA", len(tc2.Certificate))
			}
		})
	}
}
