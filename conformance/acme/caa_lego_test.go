package acme_test

import (
	"strings"
	"testing"

	"github.com/go-acme/lego/v4/certificate"
	"github.com/letsencrypt/challtestsrv"
)

// TestLegoCAA: the validator reads CAA records from the fake DNS (RFC
// 8659, RFC 8657) after a challenge succeeds; a record that does not name
// this CA's identity (vccpki.vcc.internal in the test environment) fails
// the authorization with the caa problem, one that does lets lego through.
func TestLegoCAA(t *testing.T) {
	const ours = "vccpki.vcc.internal"
	tests := []struct {
		name    string
		kind    challengeKind
		service string
		domains []string
		records map[string][]challtestsrv.CAAPolicy // %ACCT% is the account URL
		wantCAA bool
	}{
		{"issue names this CA", useHTTP01, "", []string{"caa-ok.test"},
			map[string][]challtestsrv.CAAPolicy{"caa-ok.test": {{Tag: "issue", Value: ours}}}, false},
		{"issue names another CA", useHTTP01, "", []string{"caa-other.test"},
			map[string][]challtestsrv.CAAPolicy{"caa-other.test": {{Tag: "issue", Value: "letsencrypt.org"}}}, true},
		{"the parent's record applies", useHTTP01, "argus", []string{"caa-parent.argus.test"},
			map[string][]challtestsrv.CAAPolicy{"argus.test": {{Tag: "issue", Value: ";"}}}, true},
		{"the name's own record wins over the parent's", useHTTP01, "argus", []string{"caa-child.argus.test"},
			map[string][]challtestsrv.CAAPolicy{"caa-child.argus.test": {{Tag: "issue", Value: ours}}, "argus.test": {{Tag: "issue", Value: ";"}}}, false},
		{"accounturi of this account", useHTTP01, "", []string{"caa-acct.test"},
			map[string][]challtestsrv.CAAPolicy{"caa-acct.test": {{Tag: "issue", Value: ours + "; accounturi=%ACCT%"}}}, false},
		{"accounturi of another account", useHTTP01, "", []string{"caa-acct-other.test"},
			map[string][]challtestsrv.CAAPolicy{"caa-acct-other.test": {{Tag: "issue", Value: ours + "; accounturi=https://elsewhere/acme/acct/nobody"}}}, true},
		{"validationmethods without http-01", useHTTP01, "", []string{"caa-method.test"},
			map[string][]challtestsrv.CAAPolicy{"caa-method.test": {{Tag: "issue", Value: ours + "; validationmethods=dns-01"}}}, true},
		{"issuewild forbids the wildcard", useDNS01, "argus", []string{"*.argus.test"},
			map[string][]challtestsrv.CAAPolicy{"argus.test": {{Tag: "issue", Value: ours}, {Tag: "issuewild", Value: ";"}}}, true},
		{"issuewild leaves the plain name alone", useDNS01, "argus", []string{"argus.test"},
			map[string][]challtestsrv.CAAPolicy{"argus.test": {{Tag: "issue", Value: ours}, {Tag: "issuewild", Value: ";"}}}, false},
	}
	e := testEnv
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, u := e.legoClient(t, tc.kind, e.DirURL)
			if tc.service != "" {
				e.registerEAB(t, c, u, tc.service)
			} else {
				register(t, c, u)
			}
			for host, policies := range tc.records {
				for i := range policies {
					policies[i].Value = strings.ReplaceAll(policies[i].Value, "%ACCT%", u.reg.URI)
				}
				e.dns.AddDNSCAARecord(host, policies)
				t.Cleanup(func() { e.dns.DeleteDNSCAARecord(host) })
			}
			_, err := c.Certificate.Obtain(certificate.ObtainRequest{Domains: tc.domains, Bundle: true})
			switch {
			case tc.wantCAA && (err == nil || !strings.Contains(err.Error(), "urn:ietf:params:acme:error:caa")):
				t.Fatalf("obtain: %v; want the caa problem", err)
			case !tc.wantCAA && err != nil:
				t.Fatalf("obtain: %v", err)
			}
		})
	}
}
