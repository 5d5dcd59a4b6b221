package acme

import (
	"testing"

	"github.com/miekg/dns"
)

func TestCAAForbids(t *testing.T) {
	ours := []string{"vccpki.vcc.internal"}
	const acct = "https://ca.example:8443/acme/acct/A1"
	caa := func(flag uint8, tag, value string) *dns.CAA { return &dns.CAA{Flag: flag, Tag: tag, Value: value} }
	tests := []struct {
		name     string
		rrs      []*dns.CAA
		wildcard bool
		method   string
		forbids  bool
	}{
		{"issue names us", []*dns.CAA{caa(0, "issue", "vccpki.vcc.internal")}, false, "http-01", false},
		{"issue names us, other case and trailing dot", []*dns.CAA{caa(0, "ISSUE", "VCCPKI.vcc.internal.")}, false, "http-01", false},
		{"issue names another CA", []*dns.CAA{caa(0, "issue", "letsencrypt.org")}, false, "http-01", true},
		{"one of two issue records names us", []*dns.CAA{caa(0, "issue", "letsencrypt.org"), caa(0, "issue", "vccpki.vcc.internal")}, false, "http-01", false},
		{"issue with empty domain forbids all", []*dns.CAA{caa(0, "issue", ";")}, false, "http-01", true},
		{"only iodef restricts nothing", []*dns.CAA{caa(0, "iodef", "mailto:sec@vcc.example")}, false, "http-01", false},
		{"unknown non-critical property is ignored", []*dns.CAA{caa(0, "future", "x")}, false, "http-01", false},
		{"unknown critical property forbids", []*dns.CAA{caa(128, "future", "x"), caa(0, "issue", "vccpki.vcc.internal")}, false, "http-01", true},
		{"issuewild decides for a wildcard", []*dns.CAA{caa(0, "issue", "vccpki.vcc.internal"), caa(0, "issuewild", ";")}, true, "dns-01", true},
		{"issuewild does not apply to a plain name", []*dns.CAA{caa(0, "issue", "vccpki.vcc.internal"), caa(0, "issuewild", ";")}, false, "dns-01", false},
		{"issue applies to a wildcard without issuewild", []*dns.CAA{caa(0, "issue", "vccpki.vcc.internal")}, true, "dns-01", false},
		{"accounturi of this account", []*dns.CAA{caa(0, "issue", "vccpki.vcc.internal; accounturi=https://other-host/acme/acct/A1")}, false, "http-01", false},
		{"accounturi of another account", []*dns.CAA{caa(0, "issue", "vccpki.vcc.internal; accounturi=https://ca.example:8443/acme/acct/B2")}, false, "http-01", true},
		{"validationmethods allows the method", []*dns.CAA{caa(0, "issue", "vccpki.vcc.internal; validationmethods=dns-01,http-01")}, false, "http-01", false},
		{"validationmethods excludes the method", []*dns.CAA{caa(0, "issue", "vccpki.vcc.internal; validationmethods=dns-01")}, false, "http-01", true},
		{"unknown parameter is ignored", []*dns.CAA{caa(0, "issue", "vccpki.vcc.internal; policy=ev")}, false, "http-01", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			why := caaForbids(tc.rrs, ours, caaRequest{name: "x.test", wildcard: tc.wildcard, accountURL: acct, method: tc.method})
			if (why != "") != tc.forbids {
				t.Errorf("caaForbids = %q, want forbids=%v", why, tc.forbids)
			}
		})
	}
}
