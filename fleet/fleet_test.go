package fleet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/profile"
)

func loadProfiles(t testing.TB) *profile.Set {
	t.Helper()
	set, err := profile.Load("../configs/profiles", ca.IssuingCAs)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestRepositoryRegistry: configs/services.yaml is valid and lists the
// seven VCC services.
func TestRepositoryRegistry(t *testing.T) {
	reg, err := LoadRegistry("../configs/services.yaml", loadProfiles(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(reg.Names(), ","); got != "argus,covina,clara,veritas,vpb,scraper,aat" {
		t.Errorf("services: %s", got)
	}
	vpb, _ := reg.Get("vpb")
	if vpb.Profile != "vpb" || vpb.Client != ClientEstclient || vpb.Names()[0] != "vpb.vcc.internal" {
		t.Errorf("defaults not applied: %+v", vpb)
	}
}

func TestParseRegistryRefusals(t *testing.T) {
	profiles := loadProfiles(t)
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"empty", "", "no services"},
		{"unknown field", "services:\n  - {name: argus, protocol: acme, port: 1, endpoints: [{address: a:1}]}\n", "field port not found"},
		{"bad name", "services:\n  - {name: Argus!, protocol: acme, endpoints: [{address: a:1}]}\n", "services[0].name"},
		{"duplicate", "services:\n  - {name: argus, protocol: acme, endpoints: [{address: a:1}]}\n  - {name: argus, protocol: acme, endpoints: [{address: a:1}]}\n", "listed twice"},
		{"unknown protocol", "services:\n  - {name: argus, protocol: scep, endpoints: [{address: a:1}]}\n", "not acme or est"},
		{"unknown profile", "services:\n  - {name: nope, protocol: acme, endpoints: [{address: a:1}]}\n", `no profile template "nope"`},
		{"profile closed to the protocol", "services:\n  - {name: vpb, protocol: acme, endpoints: [{address: a:1}]}\n", "not open to acme"},
		{"client of the other protocol", "services:\n  - {name: argus, protocol: est, client: lego, endpoints: [{address: a:1}]}\n", "not an EST client"},
		{"no endpoints", "services:\n  - {name: argus, protocol: acme}\n", "endpoints: none"},
		{"address without port", "services:\n  - {name: argus, protocol: acme, endpoints: [{address: argus.test}]}\n", "is not host:port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRegistry("services.yaml", []byte(tc.doc), profiles)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "services.yaml") {
				t.Errorf("error %v; want one naming the file and %q", err, tc.want)
			}
		})
	}
}

func TestEndpointServerName(t *testing.T) {
	for _, tc := range []struct {
		ep   Endpoint
		want string
	}{
		{Endpoint{Address: "argus.test:443"}, "argus.test"},
		{Endpoint{Address: "10.20.0.5:443", SNI: "argus.test"}, "argus.test"},
		{Endpoint{Address: "10.20.0.5:443"}, ""},
		{Endpoint{Address: "[::1]:443"}, ""},
	} {
		if got := tc.ep.ServerName(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.ep, got, tc.want)
		}
	}
	s := Service{Endpoints: []Endpoint{{Address: "a.test:1"}, {Address: "a.test:2"}, {Address: "10.0.0.1:3"}}}
	if got := strings.Join(s.Names(), ","); got != "a.test,10.0.0.1" {
		t.Errorf("Names: %s", got)
	}
}

func leafFor(t *testing.T, names ...string) *x509.Certificate {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "x"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestNamesMatch(t *testing.T) {
	argus, _ := loadProfiles(t).Get("argus")
	for _, tc := range []struct {
		name       string
		certNames  []string
		serverName string
		address    string
		ok         bool
		why        string
	}{
		{"exact", []string{"argus.test"}, "argus.test", "127.0.0.1:1", true, ""},
		{"wildcard covers the host", []string{"*.argus.test"}, "web.argus.test", "127.0.0.1:1", true, ""},
		{"IP endpoint", []string{"127.0.0.1"}, "", "127.0.0.1:1", true, ""},
		{"does not cover SNI", []string{"argus.test"}, "other.argus.test", "127.0.0.1:1", false, "does not cover other.argus.test"},
		{"name outside the profile", []string{"argus.test", "covina.test"}, "argus.test", "127.0.0.1:1", false, "outside profile argus"},
		{"IP outside the profile", []string{"argus.test", "192.0.2.1"}, "argus.test", "127.0.0.1:1", false, "outside profile argus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := namesMatch(leafFor(t, tc.certNames...), argus, tc.serverName, tc.address)
			if ok != tc.ok || !strings.Contains(why, tc.why) {
				t.Errorf("namesMatch = %v %q; want %v %q", ok, why, tc.ok, tc.why)
			}
		})
	}
}

func TestAction(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	svc := &Service{Name: "argus", Profile: "argus"}
	good := EndpointReport{Reachable: true, Origin: OriginOurs, Profile: "argus", NamesMatch: true, OCSP: "good",
		NotAfter: now.Add(72 * time.Hour), RenewBy: now.Add(24 * time.Hour)}
	with := func(f func(*EndpointReport)) EndpointReport { r := good; f(&r); return r }
	for _, tc := range []struct {
		name string
		r    EndpointReport
		want string // "" = covered
	}{
		{"covered", good, ""},
		{"OCSP responder down is not an action", with(func(r *EndpointReport) { r.OCSP = OCSPUnavailable + ": timeout" }), ""},
		{"self-signed", with(func(r *EndpointReport) { r.Origin = OriginSelfSigned }), "enrol: self-signed; run vccpki enrol argus"},
		{"another CA", with(func(r *EndpointReport) { r.Origin, r.Issuer = OriginOtherCA, "CN=Other" }), "issued by another CA (CN=Other)"},
		{"expired", with(func(r *EndpointReport) { r.NotAfter = now }), "renew now: expired"},
		{"revoked", with(func(r *EndpointReport) { r.Revoked = true }), "renew now: revoked"},
		{"wrong profile", with(func(r *EndpointReport) { r.Profile = "default" }), "issued from profile default, the registry says argus"},
		{"names", with(func(r *EndpointReport) { r.NamesMatch, r.NameIssue = false, "x" }), "re-enrol: x"},
		{"renewal overdue", with(func(r *EndpointReport) { r.RenewBy = now.Add(-time.Minute) }), "renewal overdue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := action(svc, &tc.r, now)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("action = %q; want %q", got, tc.want)
			}
		})
	}
}

func TestSummarizeAndMetrics(t *testing.T) {
	rep := &Report{Time: time.Unix(1_800_000_000, 0), Took: 1500 * time.Millisecond, Services: []ServiceReport{
		{Name: "argus", Profile: "argus", Endpoints: []EndpointReport{
			{Reachable: true, Origin: OriginOurs, DaysLeft: 5},
			{Reachable: true, Origin: OriginOurs, DaysLeft: 2.5},
		}},
		{Name: "vpb", Profile: "vpb", Endpoints: []EndpointReport{
			{Address: "vpb:1", Action: "unreachable: x"},
			{Address: "vpb:2", Reachable: true, Origin: OriginSelfSigned, DaysLeft: 300, Action: "enrol: y"},
		}},
	}}
	for i := range rep.Services {
		summarize(&rep.Services[i])
		if !rep.Services[i].Covered {
			rep.NotCovered++
		}
	}
	if a := rep.Services[0]; !a.Covered || a.DaysLeft != 2.5 {
		t.Errorf("argus: %+v", a)
	}
	if v := rep.Services[1]; v.Covered || v.Action != "vpb:1: unreachable: x" || v.DaysLeft != 300 {
		t.Errorf("vpb: %+v", v)
	}
	m := NewMetrics()
	if n := testutil.CollectAndCount(m); n != 0 {
		t.Errorf("%d metrics before the first discovery", n)
	}
	m.Set(rep)
	want := `
# HELP vccpki_fleet_service_covered 1 when every endpoint of the service presents a valid, unrevoked certificate of this CA from its profile, within its renewal window.
# TYPE vccpki_fleet_service_covered gauge
vccpki_fleet_service_covered{profile="argus",service="argus"} 1
vccpki_fleet_service_covered{profile="vpb",service="vpb"} 0
# HELP vccpki_fleet_service_expiry_days Days until the soonest-expiring certificate a service's endpoints present (negative once expired).
# TYPE vccpki_fleet_service_expiry_days gauge
vccpki_fleet_service_expiry_days{service="argus"} 2.5
vccpki_fleet_service_expiry_days{service="vpb"} 300
# HELP vccpki_fleet_services_not_covered Services of the registry that need action.
# TYPE vccpki_fleet_services_not_covered gauge
vccpki_fleet_services_not_covered 1
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want), "vccpki_fleet_service_covered", "vccpki_fleet_service_expiry_days", "vccpki_fleet_services_not_covered"); err != nil {
		t.Error(err)
	}
}

func TestScheduleFor(t *testing.T) {
	profiles := loadProfiles(t)
	for _, tc := range []struct {
		profile   string
		interval  time.Duration
		renewLead time.Duration
		legoDays  int
	}{
		// 168h+1m, f=0.33: window 55.4h..27.7h before expiry, its middle 41.6h.
		{"argus", MaxRenewCheck, 41*time.Hour + 35*time.Minute + 3*time.Second, 1},
		// 72h+1m: window 23.8h..11.9h; lego's fallback is --dynamic (0).
		{"scraper", MaxRenewCheck, 17*time.Hour + 49*time.Minute + 27*time.Second, 0},
	} {
		p, _ := profiles.Get(tc.profile)
		s := ScheduleFor(p)
		if s.Interval != tc.interval || s.RenewLead.Round(time.Second) != tc.renewLead.Round(time.Second) || s.LegoDays != tc.legoDays {
			t.Errorf("%s: %+v; want interval %v, lead %v, days %d", tc.profile, s, tc.interval, tc.renewLead, tc.legoDays)
		}
	}
}

// TestRecipes: each client's recipe names the server, the credential, the
// profile and the schedule; the credential is only in obtain.sh.
func TestRecipes(t *testing.T) {
	profiles := loadProfiles(t)
	reg, err := LoadRegistry("../configs/services.yaml", profiles)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		service string
		obtain  []string
		renew   []string
	}{
		{"argus", []string{"LEGO_EAB_HMAC=secret-hmac ", "--eab --kid kid-1 \\", "run --profile argus", "--domains argus.vcc.internal", "https://ca.test:8443/acme/directory"},
			[]string{"renew --profile argus", "--ari-wait-to-renew-duration", "--days 1"}},
		{"veritas", []string{"eab-kid = kid-1\neab-hmac-key = secret-hmac\n", `-c "$DIR/eab.ini"`, "-d veritas.vcc.internal", "renew_before_expiry = 2495 minutes"},
			[]string{"renew --non-interactive", "--cert-name veritas"}},
		{"vpb", []string{`{"username":"est-user","password":"secret-password"}`, `-config "$DIR/est.json"`, "-aps vpb", "-server ca.test:8443", "-dnsnames vpb.vcc.internal", "openssl ecparam"},
			[]string{"reenroll", "-checkend", "openssl ocsp", "LEAD=641534"}},
	} {
		t.Run(tc.service, func(t *testing.T) {
			svc, _ := reg.Get(tc.service)
			p, _ := profiles.Get(svc.Profile)
			files, err := Recipe(RecipeInput{Service: svc, Profile: p, ACMEDirectory: "https://ca.test:8443/acme/directory", ESTBase: "https://ca.test:8443",
				RootPEM:  []byte("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"),
				EABKeyID: "kid-1", EABHMAC: "secret-hmac", ESTUser: "est-user", ESTPassword: "secret-password"})
			if err != nil {
				t.Fatal(err)
			}
			byName := map[string]RecipeFile{}
			for _, f := range files {
				byName[f.Name] = f
				if !f.Secret && (strings.Contains(f.Body, "secret-hmac") || strings.Contains(f.Body, "secret-password")) {
					t.Errorf("%s holds the credential", f.Name)
				}
			}
			for _, w := range tc.obtain {
				if !strings.Contains(byName["obtain.sh"].Body, w) {
					t.Errorf("obtain.sh lacks %q:\n%s", w, byName["obtain.sh"].Body)
				}
			}
			for _, w := range tc.renew {
				if !strings.Contains(byName["renew.sh"].Body, w) {
					t.Errorf("renew.sh lacks %q:\n%s", w, byName["renew.sh"].Body)
				}
			}
			unit := "vccpki-renew-" + tc.service
			if !strings.Contains(byName[unit+".timer"].Body, "OnUnitActiveSec=20m") || !strings.Contains(byName[unit+".cron"].Body, "*/20 * * * * root /etc/vccpki/"+tc.service+"/renew.sh") {
				t.Errorf("timer or cron:\n%s%s", byName[unit+".timer"].Body, byName[unit+".cron"].Body)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"kid-abc_1": "kid-abc_1", "": "''", "a b": "'a b'", "it's": `'it'\''s'`, "$(x)": "'$(x)'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s; want %s", in, got, want)
		}
	}
}

// FuzzParseRegistry: any registry file is refused or accepted, never a
// panic, and an accepted one has what discovery relies on.
func FuzzParseRegistry(f *testing.F) {
	seed, err := os.ReadFile("../configs/services.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("services:\n  - {name: argus, protocol: acme, endpoints: [{address: \"127.0.0.11:443\", sni: argus.test}]}\n"))
	f.Add([]byte("services: [{name: x, endpoints: [{address: ':'}]}]"))
	profiles := loadProfiles(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		reg, err := ParseRegistry("fuzz.yaml", data, profiles)
		if err != nil {
			return
		}
		for _, s := range reg.Services {
			if _, ok := profiles.Get(s.Profile); !ok || len(s.Endpoints) == 0 || s.Client == "" {
				t.Fatalf("accepted %+v", s)
			}
			for _, ep := range s.Endpoints {
				if _, _, err := net.SplitHostPort(ep.Address); err != nil {
					t.Fatalf("accepted address %q", ep.Address)
				}
			}
		}
	})
}

// FuzzPresentedCertificate: whatever certificate a service presents,
// classifying it never panics. The corpus holds certificates the
// simulated fleet of cmd/vccpki's TestFleet presented (self-signed, lego,
// certbot and EST ones).
func FuzzPresentedCertificate(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"argus.test"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	f.Add(der)
	argus, _ := loadProfiles(f).Get("argus")
	now := time.Now()
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		r := EndpointReport{Reachable: true, Origin: OriginOtherCA, NotAfter: c.NotAfter, Names: certNames(c)}
		r.NamesMatch, r.NameIssue = namesMatch(c, argus, "argus.test", "127.0.0.1:443")
		if c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil {
			r.Origin = OriginSelfSigned
		}
		if action(&Service{Name: "argus", Profile: "argus"}, &r, now) == "" {
			t.Fatalf("a certificate not of this CA counts as covered: %+v", r)
		}
	})
}

// TestESTRecipeIPEndpoint: an endpoint known by its address alone asks
// for an IP identifier.
func TestESTRecipeIPEndpoint(t *testing.T) {
	p, _ := loadProfiles(t).Get("vpb")
	svc := &Service{Name: "vpb", Profile: "vpb", Protocol: ProtocolEST, Client: ClientEstclient,
		Endpoints: []Endpoint{{Address: "vpb.test:443"}, {Address: "10.24.0.5:8443"}}}
	files, err := Recipe(RecipeInput{Service: svc, Profile: p, ESTBase: "https://ca.test:8443", RootPEM: []byte("x\n"), ESTUser: "u", ESTPassword: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(files[0].Body, `-key "$DIR/key.new" -dnsnames vpb.test -ips 10.24.0.5 \`) {
		t.Errorf("obtain.sh:\n%s", files[0].Body)
	}
}
