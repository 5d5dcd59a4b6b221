package acme_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/acme/acmetest"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/store"
)

// akmeProfile is a partner's ACME profile: client certificates from the
// CA akme owns (the Admin CA of the test hierarchy, the one issuing CA
// here besides the operator's; vccpki ca create is another command).
const akmeProfile = `description: "Akme services: TLS client certificates"
organisation: akme
issuer: admin
protocols: [acme]
identifiers:
  dns: [akme.test, "*.akme.test"]
keys:
  - {type: ecdsa, curves: [P-256]}
validity: 168h
key_usage: [digital_signature]
ext_key_usage: [client_auth]
renewal_fraction: 0.33
lint_ignore: [e_dnsname_not_valid_tld, e_sub_cert_eku_check]    # a client certificate with DNS names: not a CA/B server certificate
`

// orgEnv is a second ACME server whose profiles are the operator's (all
// but the Admin CA's) and akme's.
func orgEnv(t *testing.T) *acmetest.Env {
	t.Helper()
	dir := t.TempDir()
	files, err := filepath.Glob(filepath.Join(profilesDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if filepath.Base(f) == "admin.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "akme.yaml"), []byte(akmeProfile), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := acmetest.NewEnvWith(context.Background(), dir, testEnv.DNSAddr, func(st store.Store) error {
		ctx := context.Background()
		if err := st.CreateOrganisation(ctx, store.Organisation{Name: "akme", Display: "Akme", CreatedAt: time.Now(), CreatedBy: "test"},
			store.AuditEvent{Actor: "test", Action: "org.create", Object: "akme", Result: "ok"}); err != nil {
			return err
		}
		return st.AddOrganisationCA(ctx, "akme", ca.AdminCA, store.AuditEvent{Actor: "test", Action: "org.add-ca", Object: "akme admin", Result: "ok", Org: "akme"})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// TestOrganisationDirectories: each organisation has its own directory
// whose profiles are its own; accounts, EAB keys and certificates of one
// organisation cannot be used at or against another's, each refused with
// ACME's own error, and the store is unchanged.
func TestOrganisationDirectories(t *testing.T) {
	e := orgEnv(t)
	ctx := context.Background()
	hc := e.Client()
	base := e.HTTPS.URL
	vcc := acmetest.NewClient(t, base+"/acme/directory", hc)
	akme := acmetest.NewClient(t, base+"/acme/akme/directory", hc)

	t.Run("directories", func(t *testing.T) {
		meta := func(c *acmetest.Client) map[string]any {
			return c.Dir["meta"].(map[string]any)["profiles"].(map[string]any)
		}
		if p := meta(akme); len(p) != 1 || p["akme"] == nil {
			t.Errorf("akme's directory profiles = %v; want only akme", p)
		}
		if p := meta(vcc); p["akme"] != nil || p["default"] == nil {
			t.Errorf("the operator's directory profiles = %v; want the operator's only", p)
		}
		if u := akme.URL("newOrder"); u != base+"/acme/akme/new-order" {
			t.Errorf("akme newOrder = %s", u)
		}
		if u := vcc.URL("newOrder"); u != base+"/acme/new-order" {
			t.Errorf("the operator's newOrder = %s; want today's URL", u)
		}
		for _, path := range []string{"/acme/nope/directory", "/acme/bravo/new-nonce"} {
			resp, err := hc.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s: %d; want 404", path, resp.StatusCode)
			}
		}
	})

	vcc.Register(nil).Must(t, 201)
	akme.Register(nil).Must(t, 201)
	if !strings.HasPrefix(akme.Kid, base+"/acme/akme/acct/") {
		t.Fatalf("akme account URL %s; want it under its directory", akme.Kid)
	}
	id := strings.TrimPrefix(akme.Kid, base+"/acme/akme/acct/")
	if a, err := e.Store.Account(ctx, store.AccountID(id)); err != nil || a.Org != "akme" {
		t.Fatalf("akme's account: org %q, %v; want akme", a.Org, err)
	}
	// Positive controls: each issues from its own profile.
	akmeChain, _, _ := akme.Issue(e.HTTPPort, "www.akme.test")
	vccChain, _, _ := vcc.Issue(e.HTTPPort, "rev.test")
	leaf := acmetest.LeafOf(t, vccChain)
	if l := acmetest.LeafOf(t, akmeChain); l.Issuer.CommonName != "VCC Admin CA" {
		t.Errorf("akme's certificate issuer %s; want akme's CA", l.Issuer)
	}
	vccKID, vccHMAC, err := acme.CreateEABKey(ctx, e.Store, "", "argus", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	akmeKID, akmeHMAC, err := acme.CreateEABKey(ctx, e.Store, "akme", "akme", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	forged := base + "/acme/acct/" + id // akme's account under the operator's tree

	order := func(c *acmetest.Client, profile string, names ...string) func() *acmetest.Response {
		return func() *acmetest.Response {
			var ids []map[string]string
			for _, n := range names {
				ids = append(ids, map[string]string{"type": "dns", "value": n})
			}
			p := map[string]any{"identifiers": ids}
			if profile != "" {
				p["profile"] = profile
			}
			return c.Post(c.URL("newOrder"), p)
		}
	}
	tests := []struct {
		name string
		do   func() *acmetest.Response
		want string // problem type
	}{
		{"partner orders the operator's profile", order(akme, "default", "x.test"), "unauthorized"},
		{"partner orders the operator's names", order(akme, "", "x.test"), "rejectedIdentifier"},
		{"operator account orders the partner's profile", order(vcc, "akme", "www.akme.test"), "unauthorized"},
		{"operator account orders the partner's names", order(vcc, "", "www.akme.test"), "rejectedIdentifier"},
		{"partner account at the operator's directory", func() *acmetest.Response {
			body := akme.JWS(akme.Key, forged, vcc.URL("newOrder"), map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "x.test"}}}, nil)
			return akme.PostRaw(vcc.URL("newOrder"), body, "application/jose+json")
		}, "unauthorized"},
		{"partner key re-registers at the operator's directory", func() *acmetest.Response {
			c := *vcc
			c.Key, c.Kid = akme.Key, ""
			return c.Register(nil)
		}, "unauthorized"},
		{"operator's EAB key at the partner's directory", func() *acmetest.Response {
			c := acmetest.NewClient(t, base+"/acme/akme/directory", hc)
			return c.Register(c.EAB(vccKID, vccHMAC))
		}, "unauthorized"},
		{"partner's EAB key at the operator's directory", func() *acmetest.Response {
			c := acmetest.NewClient(t, base+"/acme/directory", hc)
			return c.Register(c.EAB(akmeKID, akmeHMAC))
		}, "unauthorized"},
		{"partner revokes the operator's certificate", func() *acmetest.Response {
			return akme.Post(akme.URL("revokeCert"), map[string]any{"certificate": b64.EncodeToString(leaf.Raw)})
		}, "unauthorized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.do()
			if got := strings.TrimPrefix(r.Prob.Type, "urn:ietf:params:acme:error:"); got != tc.want {
				t.Errorf("got %q (HTTP %d), want %s\n%s", got, r.Status, tc.want, r.Body)
			}
		})
	}
	// Nothing changed: the certificate stands, both EAB keys are unbound.
	if rec, err := e.Store.Certificate(ctx, ca.FormatSerial(leaf.SerialNumber)); err != nil || !rec.RevokedAt.IsZero() {
		t.Errorf("the operator's certificate: %v, revoked %v; want it unrevoked", err, rec.RevokedAt)
	}
	for _, kid := range []string{vccKID, akmeKID} {
		if k, err := e.Store.EABKey(ctx, kid); err != nil || k.AccountID != "" {
			t.Errorf("EAB key %s: bound to %q, %v; want unbound", kid, k.AccountID, err)
		}
	}
}
