package profile

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var testIssuers = []string{"services", "code-signing", "admin"}

// validYAML is a complete, valid template; invalid cases edit one part.
const validYAML = `description: "Test service: TLS certificates"
issuer: services
protocols: [acme, est]
identifiers:
  dns: [svc.test, "*.svc.test"]
  ip: [127.0.0.0/8, "::1/128", 10.30.0.0/16]
  allow_wildcard: true
  max_names: 10
keys:
  - {type: ecdsa, curves: [P-256, P-384]}
  - {type: rsa, min_bits: 2048, max_bits: 4096}
  - {type: ed25519}
validity: 168h
backdate: 1m
key_usage: [digital_signature, key_encipherment]
ext_key_usage: [server_auth, client_auth]
renewal_fraction: 0.33
require_binding: true
lint_ignore: [e_dnsname_not_valid_tld]
`

// signingYAML is a valid code signing template.
const signingYAML = `description: "Test signing"
issuer: code-signing
protocols: [est]
identifiers:
  subject: "clara-*"
keys:
  - {type: ecdsa, curves: [P-256, P-384]}
  - {type: rsa, min_bits: 3072, max_bits: 4096}
validity: 8760h
key_usage: [digital_signature]
ext_key_usage: [code_signing]
renewal_fraction: 0.33
`

// edit returns base with each old string replaced by the new one that
// follows it; it fails the test if an old string is missing.
func edit(t *testing.T, base string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(base, pairs[i]) {
			t.Fatalf("edit: %q not in template", pairs[i])
		}
		base = strings.Replace(base, pairs[i], pairs[i+1], 1)
	}
	return base
}

// writeDir writes files (name -> content) to a new temporary directory.
func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadRealTemplates(t *testing.T) {
	set, err := Load("../../configs/profiles", testIssuers)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := []string{"aat", "admin", "argus", "clara", "clara-signing", "covina", "covina-signing", "default", "scraper", "veritas", "veritas-signing", "vpb", "vpb-signing"}
	if got := set.Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for i, p := range set.All() {
		if p.Name != want[i] {
			t.Errorf("All()[%d].Name = %q, want %q", i, p.Name, want[i])
		}
	}
	for _, svc := range []string{"argus", "covina", "clara", "veritas", "vpb", "scraper", "aat"} {
		t.Run(svc, func(t *testing.T) {
			p, ok := set.Get(svc)
			if !ok {
				t.Fatal("missing")
			}
			for _, name := range []string{svc + ".vcc.internal", "a." + svc + ".vcc.internal", svc + ".test", "x." + svc + ".test"} {
				if err := p.CheckDNSName(name); err != nil {
					t.Errorf("CheckDNSName(%q): %v", name, err)
				}
			}
			if err := p.CheckDNSName("localhost"); err == nil {
				t.Error("CheckDNSName(localhost) accepted")
			}
			if p.Issuer != "services" || !p.RequireBinding || p.RenewalFraction != 0.33 {
				t.Errorf("issuer %q, binding %v, fraction %v", p.Issuer, p.RequireBinding, p.RenewalFraction)
			}
			if p.Validity < 72*time.Hour || p.Validity > 720*time.Hour {
				t.Errorf("validity %v outside 72h..720h", p.Validity)
			}
		})
	}
	def, _ := set.Get("default")
	if def.RequireBinding || def.Validity != 2160*time.Hour || def.CheckDNSName("localhost") != nil {
		t.Errorf("default: binding %v, validity %v, localhost %v", def.RequireBinding, def.Validity, def.CheckDNSName("localhost"))
	}
	sign, _ := set.Get("clara-signing")
	if sign.Issuer != "code-signing" || sign.CheckSubject("clara-release") != nil || sign.AllowsProtocol(ProtocolACME) {
		t.Errorf("clara-signing: issuer %q, subject %v, acme %v", sign.Issuer, sign.CheckSubject("clara-release"), sign.AllowsProtocol(ProtocolACME))
	}
}

func TestParseDefaults(t *testing.T) {
	p, err := Parse("dir/svc.yaml", []byte(edit(t, validYAML, "backdate: 1m\n", "", "  max_names: 10\n", "")), testIssuers)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "svc" || p.Backdate != time.Minute || p.MaxNames != 100 {
		t.Errorf("name %q, backdate %v, max_names %d", p.Name, p.Backdate, p.MaxNames)
	}
	q, err := Parse("svc.yaml", []byte(edit(t, validYAML, "{type: rsa, min_bits: 2048, max_bits: 4096}", "{type: rsa}")), testIssuers)
	if err != nil {
		t.Fatal(err)
	}
	if r := q.Keys[1]; r.MinBits != 2048 || r.MaxBits != 4096 {
		t.Errorf("rsa defaults %d-%d, want 2048-4096", r.MinBits, r.MaxBits)
	}
}

func TestLoadInvalid(t *testing.T) {
	cases := []struct {
		name  string
		yaml  func(t *testing.T) string
		field string // the field the error must name
		text  string // more text the error must contain
	}{
		{"unknown field", func(t *testing.T) string { return validYAML + "colour: blue\n" }, "colour", "unknown field"},
		{"unknown nested field", func(t *testing.T) string { return edit(t, validYAML, "{type: ed25519}", "{type: ed25519, size: 256}") }, "keys[2].size", "unknown field"},
		{"bad duration", func(t *testing.T) string { return edit(t, validYAML, "validity: 168h", "validity: 5x") }, "validity", `"5x" is not a duration (use e.g. 168h)`},
		{"validity too long", func(t *testing.T) string { return edit(t, validYAML, "validity: 168h", "validity: 9000h") }, "validity", "longer than"},
		{"validity negative", func(t *testing.T) string { return edit(t, validYAML, "validity: 168h", "validity: -1h") }, "validity", "positive"},
		{"backdate not below validity", func(t *testing.T) string { return edit(t, validYAML, "backdate: 1m", "backdate: 168h") }, "backdate", "shorter than validity"},
		{"missing description", func(t *testing.T) string {
			return edit(t, validYAML, "description: \"Test service: TLS certificates\"\n", "")
		}, "description", "required"},
		{"two-line description", func(t *testing.T) string { return edit(t, validYAML, `"Test service: TLS certificates"`, `"a\nb"`) }, "description", "one line"},
		{"unknown issuer", func(t *testing.T) string { return edit(t, validYAML, "issuer: services", "issuer: root") }, "issuer", `"root" is not a known issuer (known: admin, code-signing, services)`},
		{"uri on a TLS server profile", func(t *testing.T) string {
			return edit(t, validYAML, "  allow_wildcard: true\n", "  allow_wildcard: true\n  uri: [urn:vccpki:role:auditor]\n")
		}, "identifiers.uri", "exactly [client_auth]"},
		{"uri that is not absolute", func(t *testing.T) string {
			return edit(t, validYAML, "  allow_wildcard: true\n", "  allow_wildcard: true\n  uri: [pki_admin]\n")
		}, "identifiers.uri[0]", "absolute URI"},
		{"uri without subject", func(t *testing.T) string {
			return edit(t, validYAML, "  allow_wildcard: true\n", "  allow_wildcard: true\n  uri: [urn:vccpki:role:auditor]\n")
		}, "identifiers.subject", "required with identifiers.uri"},
		{"unknown protocol", func(t *testing.T) string { return edit(t, validYAML, "[acme, est]", "[acme, scep]") }, "protocols[1]", `"scep"`},
		{"operator protocol", func(t *testing.T) string { return edit(t, validYAML, "[acme, est]", "[operator]") }, "protocols[0]", "always allowed"},
		{"duplicate protocol", func(t *testing.T) string { return edit(t, validYAML, "[acme, est]", "[est, est]") }, "protocols[1]", "twice"},
		{"wildcard inside", func(t *testing.T) string { return edit(t, validYAML, "[svc.test,", `["a.*.b",`) }, "identifiers.dns[0]", "leftmost label"},
		{"wildcard without base", func(t *testing.T) string { return edit(t, validYAML, "[svc.test,", `["*.",`) }, "identifiers.dns[0]", "needs a name"},
		{"bad characters", func(t *testing.T) string { return edit(t, validYAML, "[svc.test,", `["UPPER_case!",`) }, "identifiers.dns[0]", "'_'"},
		{"uppercase pattern", func(t *testing.T) string { return edit(t, validYAML, "[svc.test,", `[Svc.test,`) }, "identifiers.dns[0]", "lowercase"},
		{"trailing dot", func(t *testing.T) string { return edit(t, validYAML, "[svc.test,", `[svc.test.,`) }, "identifiers.dns[0]", "dot"},
		{"numeric last label", func(t *testing.T) string { return edit(t, validYAML, "[svc.test,", `[10.0.0.1,`) }, "identifiers.dns[0]", "IP identifier"},
		{"bad CIDR", func(t *testing.T) string { return edit(t, validYAML, "10.30.0.0/16", "10.30.0.0/33") }, "identifiers.ip[2]", "not a CIDR prefix"},
		{"CIDR with host bits", func(t *testing.T) string { return edit(t, validYAML, "10.30.0.0/16", "10.30.0.1/16") }, "identifiers.ip[2]", "did you mean 10.30.0.0/16"},
		{"4in6 CIDR", func(t *testing.T) string { return edit(t, validYAML, "10.30.0.0/16", `"::ffff:10.30.0.0/112"`) }, "identifiers.ip[2]", "IPv4-mapped"},
		{"wildcard allowed without wildcard pattern", func(t *testing.T) string { return edit(t, validYAML, `, "*.svc.test"]`, "]") }, "identifiers.allow_wildcard", "no wildcard"},
		{"max_names zero", func(t *testing.T) string { return edit(t, validYAML, "max_names: 10", "max_names: 0") }, "identifiers.max_names", "between 1 and"},
		{"max_names not a number", func(t *testing.T) string { return edit(t, validYAML, "max_names: 10", "max_names: many") }, "identifiers.max_names", `"many" is not an integer`},
		{"rsa min_bits 1024", func(t *testing.T) string { return edit(t, validYAML, "min_bits: 2048", "min_bits: 1024") }, "keys[1].min_bits", "below 2048"},
		{"rsa min above max", func(t *testing.T) string { return edit(t, validYAML, "min_bits: 2048", "min_bits: 8192") }, "keys[1].min_bits", "larger than max_bits"},
		{"rsa max_bits 16384", func(t *testing.T) string { return edit(t, validYAML, "max_bits: 4096", "max_bits: 16384") }, "keys[1].max_bits", "above 8192"},
		{"unknown curve", func(t *testing.T) string { return edit(t, validYAML, "[P-256, P-384]", "[P-224]") }, "keys[0].curves[0]", `"P-224"`},
		{"curves on rsa", func(t *testing.T) string { return edit(t, validYAML, "{type: rsa,", "{type: rsa, curves: [P-256],") }, "keys[1].curves", "ecdsa keys only"},
		{"unknown key type", func(t *testing.T) string { return edit(t, validYAML, "{type: ed25519}", "{type: dsa}") }, "keys[2].type", `"dsa"`},
		{"empty keys", func(t *testing.T) string {
			return edit(t, validYAML, "  - {type: ecdsa, curves: [P-256, P-384]}\n  - {type: rsa, min_bits: 2048, max_bits: 4096}\n  - {type: ed25519}\n", "", "keys:\n", "keys: []\n")
		}, "keys", "required"},
		{"unknown key usage", func(t *testing.T) string { return edit(t, validYAML, "key_encipherment]", "cert_sign]") }, "key_usage[1]", `"cert_sign"`},
		{"no usage left for ed25519", func(t *testing.T) string {
			return edit(t, validYAML, "[digital_signature, key_encipherment]", "[key_encipherment]")
		}, "key_usage", "no usage for ed25519"},
		{"unknown EKU", func(t *testing.T) string { return edit(t, validYAML, "client_auth]", "any]") }, "ext_key_usage[1]", `"any"`},
		{"TLS without identifiers", func(t *testing.T) string {
			return edit(t, validYAML, `  dns: [svc.test, "*.svc.test"]`+"\n", "", `  ip: [127.0.0.0/8, "::1/128", 10.30.0.0/16]`+"\n", "", "  allow_wildcard: true\n", "")
		}, "identifiers", "at least one dns or ip"},
		{"code_signing without subject", func(t *testing.T) string { return edit(t, signingYAML, "  subject: \"clara-*\"\n", "") }, "identifiers.subject", "required when ext_key_usage has code_signing"},
		{"code_signing with dns", func(t *testing.T) string {
			return edit(t, signingYAML, "identifiers:\n", "identifiers:\n  dns: [clara.test]\n")
		}, "identifiers.dns", "must be empty"},
		{"subject on TLS profile", func(t *testing.T) string { return edit(t, validYAML, "  max_names: 10", "  subject: \"svc-*\"") }, "identifiers.subject", "only for code signing"},
		{"bad subject glob", func(t *testing.T) string { return edit(t, signingYAML, `"clara-*"`, `"clara-["`) }, "identifiers.subject", "not a valid glob"},
		{"renewal_fraction 1.5", func(t *testing.T) string {
			return edit(t, validYAML, "renewal_fraction: 0.33", "renewal_fraction: 1.5")
		}, "renewal_fraction", "between 0 and 1"},
		{"renewal_fraction NaN", func(t *testing.T) string {
			return edit(t, validYAML, "renewal_fraction: 0.33", "renewal_fraction: .nan")
		}, "renewal_fraction", "between 0 and 1"},
		{"renewal_fraction missing", func(t *testing.T) string { return edit(t, validYAML, "renewal_fraction: 0.33\n", "") }, "renewal_fraction", "required"},
		{"bad lint name", func(t *testing.T) string { return edit(t, validYAML, "[e_dnsname_not_valid_tld]", "[NotALint]") }, "lint_ignore[0]", "not a zlint lint name"},
		{"field given twice", func(t *testing.T) string { return validYAML + "validity: 72h\n" }, "validity", "given twice"},
		{"list where string expected", func(t *testing.T) string { return edit(t, validYAML, "issuer: services", "issuer: [services]") }, "issuer", "a list is not a string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeDir(t, map[string]string{"svc.yaml": tc.yaml(t), "default.yaml": validYAML})
			_, err := Load(dir, testIssuers)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			msg := err.Error()
			file := filepath.Join(dir, "svc.yaml")
			want := file + `: field "` + tc.field + `": `
			if !strings.Contains(msg, want) || !strings.Contains(msg, tc.text) {
				t.Fatalf("error does not contain %q and %q:\n%s", want, tc.text, msg)
			}
			if strings.Contains(msg, "default.yaml") {
				t.Errorf("error blames the valid default.yaml:\n%s", msg)
			}
		})
	}
}

func TestLoadDirectoryErrors(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"no templates", map[string]string{"README": "x"}, []string{"no profile templates"}},
		{"missing default profile", map[string]string{"svc.yaml": validYAML}, []string{`no "default" profile`}},
		{"yml extension", map[string]string{"default.yaml": validYAML, "svc.yml": validYAML}, []string{"svc.yml", "must end in .yaml"}},
		{"bad profile name", map[string]string{"default.yaml": validYAML, "Svc_1.yaml": validYAML}, []string{"Svc_1.yaml", "profile name"}},
		{"invalid YAML", map[string]string{"default.yaml": validYAML, "svc.yaml": "a: b: c\n"}, []string{"svc.yaml: not valid YAML"}},
		{"two documents", map[string]string{"default.yaml": validYAML, "svc.yaml": validYAML + "---\n" + validYAML}, []string{"svc.yaml: holds more than one YAML document"}},
		{"document not a mapping", map[string]string{"default.yaml": validYAML, "svc.yaml": "- a\n"}, []string{"svc.yaml: the document is a list"}},
		{"every error of a file", map[string]string{"default.yaml": validYAML, "svc.yaml": edit(t, validYAML, "validity: 168h", "validity: 5x", "issuer: services", "issuer: root", "renewal_fraction: 0.33", "renewal_fraction: 2")},
			[]string{`field "validity"`, `field "issuer"`, `field "renewal_fraction"`}},
		{"errors of every file", map[string]string{"default.yaml": edit(t, validYAML, "validity: 168h", "validity: 5x"), "svc.yaml": edit(t, validYAML, "issuer: services", "issuer: root")},
			[]string{`default.yaml: field "validity"`, `svc.yaml: field "issuer"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeDir(t, tc.files)
			_, err := Load(dir, testIssuers)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "absent"), testIssuers); err == nil {
		t.Error("Load of a missing directory succeeded")
	}
}

func TestAllowsProtocol(t *testing.T) {
	p, err := Parse("svc.yaml", []byte(edit(t, validYAML, "[acme, est]", "[est]")), testIssuers)
	if err != nil {
		t.Fatal(err)
	}
	for proto, want := range map[string]bool{ProtocolEST: true, ProtocolOperator: true, ProtocolACME: false, "ACME": false, "": false} {
		if got := p.AllowsProtocol(proto); got != want {
			t.Errorf("AllowsProtocol(%q) = %v, want %v", proto, got, want)
		}
	}
}

func TestRenewalWindow(t *testing.T) {
	p := &Profile{RenewalFraction: 0.33}
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name               string
		notAfter           time.Time
		wantStart, wantEnd time.Duration // before notAfter
	}{
		{"one week", nb.Add(168 * time.Hour), 55*time.Hour + 26*time.Minute + 24*time.Second, 27*time.Hour + 43*time.Minute + 12*time.Second},
		{"100 hours", nb.Add(100 * time.Hour), 33 * time.Hour, 16*time.Hour + 30*time.Minute},
		{"no lifetime", nb, 0, 0},
		{"negative lifetime", nb.Add(-time.Hour), 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start, end := p.RenewalWindow(nb, tc.notAfter)
			if got := tc.notAfter.Sub(start); got != tc.wantStart {
				t.Errorf("start %v before notAfter, want %v", got, tc.wantStart)
			}
			if got := tc.notAfter.Sub(end); got != tc.wantEnd {
				t.Errorf("end %v before notAfter, want %v", got, tc.wantEnd)
			}
		})
	}
}
