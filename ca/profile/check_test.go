package profile

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"math/big"
	"net/netip"
	"strings"
	"testing"

	"github.com/vcc/vccpki/ca/caerr"
)

func mustParse(t testing.TB, file, yaml string) *Profile {
	t.Helper()
	p, err := Parse(file, []byte(yaml), testIssuers)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckDNSName(t *testing.T) {
	wild := mustParse(t, "svc.yaml", validYAML)
	noWild := mustParse(t, "svc.yaml", edit(t, validYAML, "allow_wildcard: true", "allow_wildcard: false"))
	signing := mustParse(t, "signing.yaml", signingYAML)
	cases := []struct {
		name    string
		p       *Profile
		dnsName string
		ok      bool
		text    string // part of the error detail
	}{
		{"exact", wild, "svc.test", true, ""},
		{"one label under wildcard", wild, "a.svc.test", true, ""},
		{"two labels deep refused", wild, "a.b.svc.test", false, "exactly one label"},
		{"apex of wildcard only by exact pattern", mustParse(t, "svc.yaml", edit(t, validYAML, "[svc.test,", "[other.test,")), "svc.test", false, "outside profile svc"},
		{"other domain", wild, "svc.example", false, "allowed: svc.test, *.svc.test"},
		{"suffix is not a label boundary", wild, "xsvc.test", false, "outside"},
		{"requested wildcard allowed", wild, "*.svc.test", true, ""},
		{"requested wildcard refused by AllowWildcard", noWild, "*.svc.test", false, "does not issue wildcard names"},
		{"requested wildcard not covered", wild, "*.a.svc.test", false, "outside"},
		{"requested wildcard of exact pattern", wild, "*.test", false, "outside"},
		{"uppercase exact", wild, "SVC.Test", true, ""},
		{"uppercase under wildcard", wild, "WWW.SVC.TEST", true, ""},
		{"uppercase requested wildcard", wild, "*.Svc.Test", true, ""},
		{"empty", wild, "", false, "empty"},
		{"trailing dot", wild, "a.svc.test.", false, "ends with a dot"},
		{"wildcard in the middle", wild, "a.*.svc.test", false, "leftmost label"},
		{"partial wildcard label", wild, "a*.svc.test", false, "leftmost label"},
		{"underscore", wild, "a_b.svc.test", false, "'_'"},
		{"empty label", wild, "a..svc.test", false, "empty label"},
		{"hyphen at label start", wild, "-a.svc.test", false, "hyphen"},
		{"label too long", wild, strings.Repeat("a", 64) + ".svc.test", false, "longer than 63"},
		{"name too long", wild, strings.Repeat("a.", 130) + "svc.test", false, "253"},
		{"non-ASCII", wild, "bücher.svc.test", false, "xn--"},
		{"IP address as a name", wild, "127.0.0.1", false, "IP identifier"},
		{"no DNS names in profile", signing, "clara.test", false, "allows no DNS names"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.CheckDNSName(tc.dnsName)
			checkResult(t, err, tc.ok, caerr.RejectedIdentifier, tc.text)
		})
	}
}

func checkResult(t *testing.T, err error, ok bool, kind caerr.Kind, text string) {
	t.Helper()
	switch {
	case ok && err != nil:
		t.Fatalf("rejected: %v", err)
	case !ok && err == nil:
		t.Fatal("accepted")
	case !ok && !errors.Is(err, kind):
		t.Fatalf("error kind %v, want %v (%v)", caerr.KindOf(err), kind, err)
	case !ok && !strings.Contains(err.Error(), text):
		t.Fatalf("error %q does not contain %q", err, text)
	}
}

func TestCheckIP(t *testing.T) {
	p := mustParse(t, "svc.yaml", validYAML)
	cases := []struct {
		name string
		ip   netip.Addr
		ok   bool
	}{
		{"IPv4 loopback", netip.MustParseAddr("127.0.0.1"), true},
		{"IPv4 in private range", netip.MustParseAddr("10.30.255.254"), true},
		{"IPv4 out of range", netip.MustParseAddr("10.31.0.1"), false},
		{"IPv6 loopback", netip.MustParseAddr("::1"), true},
		{"IPv6 out of range", netip.MustParseAddr("::2"), false},
		{"4in6 inside", netip.MustParseAddr("::ffff:10.30.0.1"), true},
		{"4in6 outside", netip.MustParseAddr("::ffff:192.0.2.1"), false},
		{"zone", netip.MustParseAddr("::1%eth0"), false},
		{"zero Addr", netip.Addr{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkResult(t, p.CheckIP(tc.ip), tc.ok, caerr.RejectedIdentifier, "")
		})
	}
	if err := mustParse(t, "signing.yaml", signingYAML).CheckIP(netip.MustParseAddr("127.0.0.1")); err == nil || !strings.Contains(err.Error(), "allows no IP") {
		t.Errorf("signing profile: %v", err)
	}
}

func TestCheckSubject(t *testing.T) {
	signing := mustParse(t, "signing.yaml", signingYAML)
	tls := mustParse(t, "svc.yaml", validYAML)
	cases := []struct {
		name string
		p    *Profile
		cn   string
		ok   bool
		text string
	}{
		{"glob match", signing, "clara-release", true, ""},
		{"glob prefix only", signing, "clara-", true, ""},
		{"other service", signing, "argus-release", false, "does not match"},
		{"case-sensitive", signing, "Clara-release", false, "does not match"},
		{"slash not matched by star", signing, "clara-a/b", false, "does not match"},
		{"empty", signing, "", false, "empty"},
		{"control character", signing, "clara-\n", false, "control"},
		{"too long", signing, "clara-" + strings.Repeat("x", 60), false, "64"},
		{"no subject pattern", tls, "clara-release", false, "chosen subject names"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkResult(t, tc.p.CheckSubject(tc.cn), tc.ok, caerr.RejectedIdentifier, tc.text)
		})
	}
}

// rsaKey returns an RSA public key with a modulus of exactly bits bits.
// CheckKey looks at the size and exponent only, so no real key is needed.
func rsaKey(bits, e int) *rsa.PublicKey {
	n := new(big.Int).SetBit(big.NewInt(1), bits-1, 1)
	return &rsa.PublicKey{N: n, E: e}
}

func ecKey(t *testing.T, c elliptic.Curve) *ecdsa.PublicKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey
}

func TestCheckKey(t *testing.T) {
	svc := mustParse(t, "svc.yaml", validYAML)
	signing := mustParse(t, "signing.yaml", signingYAML)
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		p    *Profile
		pub  crypto.PublicKey
		ok   bool
		text string
	}{
		{"RSA 1024", svc, rsaKey(1024, 65537), false, "RSA 1024-bit key: profile svc allows ECDSA P-256/P-384, RSA 2048-4096 bits, Ed25519"},
		{"RSA 2048", svc, rsaKey(2048, 65537), true, ""},
		{"RSA 4096", svc, rsaKey(4096, 65537), true, ""},
		{"RSA 8192 above max", svc, rsaKey(8192, 65537), false, "RSA 8192-bit key"},
		{"RSA 2048 below signing minimum", signing, rsaKey(2048, 65537), false, "allows ECDSA P-256/P-384, RSA 3072-4096 bits"},
		{"RSA 3072 signing", signing, rsaKey(3072, 65537), true, ""},
		{"RSA odd modulus length", svc, rsaKey(2052, 65537), false, "multiple of 8"},
		{"RSA even exponent", svc, rsaKey(2048, 65536), false, "exponent"},
		{"RSA nil modulus", svc, &rsa.PublicKey{}, false, "empty RSA key"},
		{"P-256", svc, ecKey(t, elliptic.P256()), true, ""},
		{"P-384", svc, ecKey(t, elliptic.P384()), true, ""},
		{"P-224 refused", svc, ecKey(t, elliptic.P224()), false, "ECDSA P-224 key"},
		{"P-521 refused", svc, ecKey(t, elliptic.P521()), false, "ECDSA P-521 key"},
		{"ECDSA without curve", svc, &ecdsa.PublicKey{}, false, "without a curve"},
		{"Ed25519 allowed", svc, edPub, true, ""},
		{"Ed25519 refused", signing, edPub, false, "Ed25519 key: profile signing allows"},
		{"Ed25519 malformed", svc, ed25519.PublicKey{1, 2}, false, "malformed"},
		{"nil key", svc, nil, false, "no public key"},
		{"other type", svc, "not a key", false, "string key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkResult(t, tc.p.CheckKey(tc.pub), tc.ok, caerr.BadPublicKey, tc.text)
		})
	}
}

func TestKeyUsageFor(t *testing.T) {
	all := mustParse(t, "svc.yaml", edit(t, validYAML, "[digital_signature, key_encipherment]",
		"[digital_signature, content_commitment, key_encipherment, data_encipherment, key_agreement]"))
	const ds, cc = x509.KeyUsageDigitalSignature, x509.KeyUsageContentCommitment
	cases := []struct {
		name string
		pub  crypto.PublicKey
		want x509.KeyUsage
	}{
		{"RSA keeps encipherment, drops key agreement", rsaKey(2048, 65537), ds | cc | x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment},
		{"ECDSA drops encipherment, keeps key agreement", ecKey(t, elliptic.P256()), ds | cc | x509.KeyUsageKeyAgreement},
		{"Ed25519 signs only", ed25519.PublicKey(make([]byte, 32)), ds | cc},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := all.KeyUsageFor(tc.pub); got != tc.want {
				t.Errorf("KeyUsageFor = %#x, want %#x", got, tc.want)
			}
		})
	}
	svc := mustParse(t, "svc.yaml", validYAML)
	if got := svc.KeyUsageFor(ecKey(t, elliptic.P256())); got != ds {
		t.Errorf("template usage for ECDSA = %#x, want digital_signature only", got)
	}
}

// TestHandMadeProfile checks that a Profile not built by Parse still
// matches correctly (without the load-time index).
func TestHandMadeProfile(t *testing.T) {
	p := &Profile{Name: "hand", DNSPatterns: []string{"*.hand.test"}, Keys: []KeyRule{{Type: KeyEd25519}}}
	if err := p.CheckDNSName("a.hand.test"); err != nil {
		t.Error(err)
	}
	if err := p.CheckKey(rsaKey(2048, 65537)); err == nil || !strings.Contains(err.Error(), "allows Ed25519") {
		t.Errorf("CheckKey: %v", err)
	}
}

func BenchmarkCheckDNSName(b *testing.B) {
	set, err := Load("../../configs/profiles", testIssuers)
	if err != nil {
		b.Fatal(err)
	}
	p, _ := set.Get("argus")
	names := []string{"argus.vcc.internal", "node-17.argus.vcc.internal", "*.argus.vcc.internal", "Web.Argus.VCC.Internal", "a.b.argus.vcc.internal"}
	b.Run("accepted", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := p.CheckDNSName(names[i%3]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("mixed case", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = p.CheckDNSName(names[3])
		}
	})
	b.Run("rejected", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = p.CheckDNSName(names[4])
		}
	})
}
