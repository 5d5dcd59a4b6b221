package profile

import (
	"slices"
	"strings"
	"testing"
)

func TestESTSettings(t *testing.T) {
	acmeOnly := edit(t, validYAML, "protocols: [acme, est]", "protocols: [acme]")
	tests := []struct {
		name     string
		yaml     string
		auth     []string
		binding  bool
		wantErrs []string // substrings; nil means valid
	}{
		{name: "default when absent", yaml: validYAML, auth: []string{ESTAuthClientCert, ESTAuthBasic}},
		{name: "explicit", yaml: validYAML + "est:\n  auth: [basic, bootstrap_cert]\n  channel_binding: true\n",
			auth: []string{ESTAuthBasic, ESTAuthBootstrapCert}, binding: true},
		{name: "none for a profile closed to EST", yaml: acmeOnly},
		{name: "est set but protocol closed", yaml: acmeOnly + "est:\n  auth: [basic]\n",
			wantErrs: []string{`field "est": is set but protocols does not list est`}},
		{name: "unknown method", yaml: validYAML + "est:\n  auth: [basic, password]\n",
			wantErrs: []string{`field "est.auth[1]": "password" is not known`}},
		{name: "empty auth", yaml: validYAML + "est:\n  channel_binding: true\n",
			wantErrs: []string{`field "est.auth": is required`}},
		{name: "twice", yaml: validYAML + "est:\n  auth: [basic, basic]\n",
			wantErrs: []string{`field "est.auth[1]": "basic" is listed twice`}},
		{name: "unknown field", yaml: validYAML + "est:\n  auth: [basic]\n  tls_unique: true\n",
			wantErrs: []string{`field "est.tls_unique": unknown field`, "known fields here: auth, channel_binding"}},
		{name: "wrong type", yaml: validYAML + "est:\n  auth: basic\n",
			wantErrs: []string{`field "est.auth": "basic" is not a list of strings`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("svc.yaml", []byte(tc.yaml), testIssuers)
			if tc.wantErrs != nil {
				if err == nil {
					t.Fatalf("Parse succeeded; want errors %q", tc.wantErrs)
				}
				for _, w := range tc.wantErrs {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.EST.Auth, tc.auth) || p.EST.ChannelBinding != tc.binding {
				t.Errorf("EST = %+v; want auth %v binding %v", p.EST, tc.auth, tc.binding)
			}
			for _, m := range []string{ESTAuthClientCert, ESTAuthBootstrapCert, ESTAuthBasic} {
				if p.EST.Allows(m) != slices.Contains(tc.auth, m) {
					t.Errorf("Allows(%s) = %v", m, p.EST.Allows(m))
				}
			}
		})
	}
}
