package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/acme"
)

// These tests read configuration sections through loadConfig in process;
// the tests that drive the built binary are in conformance/.

// testConfig writes a configuration for a fresh data directory that uses
// the repository's profile templates.
func testConfig(t testing.TB, extra string) string {
	t.Helper()
	dir := t.TempDir()
	profiles, err := filepath.Abs("../../configs/profiles")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "vccpki.yaml")
	body := "data: data\nprofiles: " + profiles + "\nhierarchy:\n  locality: Berlin\n" + extra
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath
}

// TestACMEConfigSection reads the configuration's acme section.
func TestACMEConfigSection(t *testing.T) {
	cfg := testConfig(t, "acme:\n  external_url: https://ca.vcc.example:8443\n  external_account_required: true\n"+
		"  orders_per_hour: 10\n  max_pending_authzs: 20\n  max_body_bytes: 4096\n  challenge_wait: 500ms\n  caa_identities: [ca.vcc.example]\n"+
		"  accounts_per_address: {burst: 5, every: 10m}\n  orders_per_address: {burst: 50, every: 1m}\n  max_validations_per_account: 4\n  prune_retention: 2d\n")
	c, err := loadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := c.acme
	if a.ExternalURL != "https://ca.vcc.example:8443" || !a.ExternalAccountRequired || a.OrdersPerHour != 10 || a.MaxPendingAuthzs != 20 ||
		a.MaxBodyBytes != 4096 || time.Duration(a.ChallengeWait) != 500*time.Millisecond || len(a.CAAIdentities) != 1 ||
		a.AccountsPerAddress.Limit() != (acme.Limit{Burst: 5, Every: 10 * time.Minute}) || a.OrdersPerAddress.Limit() != (acme.Limit{Burst: 50, Every: time.Minute}) ||
		a.MaxValidationsPerAccount != 4 || time.Duration(a.PruneRetention) != 48*time.Hour {
		t.Fatalf("acme section: %+v", a)
	}
	bad := testConfig(t, "acme:\n  no_such_field: 1\n")
	if _, err := loadConfig(bad); err == nil || !strings.Contains(err.Error(), "no_such_field") {
		t.Fatalf("unknown acme field: %v", err)
	}
}

func TestOCSPConfiguration(t *testing.T) {
	if _, err := loadConfig("../../configs/dev.yaml"); err != nil {
		t.Fatalf("configs/dev.yaml: %v", err)
	}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"shards out of range", "crl:\n  shards: 5000\n", "crl.shards"},
		{"negative shards", "crl:\n  shards: -1\n", "crl.shards"},
		{"no CRL at all", "crl:\n  full: false\n", "crl.full"},
		{"unknown presign hash", "ocsp:\n  presign: [md5]\n", "ocsp.presign"},
		{"short validity", "ocsp:\n  validity: 5m\n", "ocsp.validity"},
		{"bad poll interval", "ocsp:\n  poll_interval: soon\n", "ocsp.poll_interval"},
		{"unknown field", "ocsp:\n  cache: lots\n", "cache"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vccpki.yaml")
			os.WriteFile(path, []byte(tc.body), 0o600)
			_, err := loadConfig(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "vccpki.yaml") {
				t.Errorf("error %v, want one naming %q and the file", err, tc.want)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "vccpki.yaml")
	os.WriteFile(path, []byte("crl:\n  shards: 8\n  full: false\nocsp:\n  presign: [sha1, SHA-256]\n  live_signatures_per_second: -1\n"), 0o600)
	c, err := loadConfig(path)
	if err != nil || c.crlShards != 8 || c.ocsp.FullCRL || len(c.ocsp.Presign) != 2 || c.ocsp.LiveSignatures != -1 {
		t.Errorf("config %+v, %v", c, err)
	}
}

// TestFleetConfigSection: the configuration's fleet section (the fleet
// commands' usage errors are in conformance/fleet).
func TestFleetConfigSection(t *testing.T) {
	for _, tc := range []struct{ section, want string }{
		{"fleet:\n  concurrency: 1000\n", "fleet.concurrency"},
		{"fleet:\n  refresh: 1s\n", "fleet.refresh"},
		{"fleet:\n  probes: 3\n", "probes"},
	} {
		bad := testConfig(t, tc.section)
		if _, err := loadConfig(bad); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v; want an error naming %s", tc.section, err, tc.want)
		}
	}
	good := testConfig(t, "fleet:\n  services: my-services.yaml\n  refresh: 1m\n  probe_timeout: 2s\n  concurrency: 4\n")
	c, err := loadConfig(good)
	if err != nil {
		t.Fatal(err)
	}
	if f := c.fleet; filepath.Base(f.Services) != "my-services.yaml" || !filepath.IsAbs(f.Services) || f.Refresh != time.Minute || f.ProbeTimeout != 2*time.Second || f.Concurrency != 4 {
		t.Errorf("fleet section: %+v", f)
	}

}

// TestStoreInConfigFile: the store field is read from the file, and a bad
// one names the file and the field (conformance/cli's TestStoreUnreachable
// starts the binary on an unreachable database).
func TestStoreInConfigFile(t *testing.T) {
	cfg := testConfig(t, "store: postgres://vccpki@127.0.0.1:1/none\n")
	c, err := loadConfig(cfg)
	if err != nil || c.store != "postgres://vccpki@127.0.0.1:1/none" {
		t.Fatalf("loadConfig: store %q, %v", c.store, err)
	}
	bad := testConfig(t, "store: redis://x\n")
	if _, err := loadConfig(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "field store") {
		t.Fatalf("bad store: %v", err)
	}
}
