package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/vcc/vccpki/api"
	"github.com/vcc/vccpki/ca"
)

// TestOrgCommands: vccpki org create, add-ca, list and show against a
// data directory made by init; a refused argument exits with status 2.
func TestOrgCommands(t *testing.T) {
	t.Setenv("VCCPKI_KEK_PASSPHRASE", "cmd test passphrase, long enough")
	t.Setenv("VCCPKI_CONFIG", "")
	cfg := testConfig(t, "")
	if err := dispatch(t.Context(), []string{"init", "--config", cfg}, &bytes.Buffer{}); err != nil {
		t.Fatalf("init: %v", err)
	}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := dispatch(t.Context(), append(args, "--config", cfg), &out)
		return out.String(), err
	}
	if out, err := run("org", "create", "--name", "brandenburg", "--display", "Land Brandenburg"); err != nil || !strings.Contains(out, "acme=/acme/brandenburg/directory") {
		t.Fatalf("org create: %v\n%s", err, out)
	}
	if out, err := run("org", "add-ca", "--org", "brandenburg", "--ca", ca.CodeSigningCA); err != nil {
		t.Fatalf("org add-ca: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"duplicate", []string{"org", "create", "--name", "brandenburg", "--display", "x"}},
		{"malformed name", []string{"org", "create", "--name", "Brandenburg", "--display", "x"}},
		{"missing display", []string{"org", "create", "--name", "x"}},
		{"CA of another organisation", []string{"org", "add-ca", "--org", "vcc", "--ca", ca.CodeSigningCA}},
		{"not an issuing CA", []string{"org", "add-ca", "--org", "brandenburg", "--ca", "root"}},
		{"unknown organisation", []string{"org", "show", "nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(tc.args...)
			if ee, ok := err.(*exitError); !ok || ee.code != 2 {
				t.Fatalf("%v: %v; want exit status 2", tc.args, err)
			}
		})
	}
	out, err := run("org", "show", "brandenburg", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var o api.Organisation
	if err := json.Unmarshal([]byte(out), &o); err != nil || o.Display != "Land Brandenburg" || len(o.CAs) != 1 || o.CAs[0] != ca.CodeSigningCA || o.CreatedBy == "" {
		t.Errorf("org show --json: %+v, %v\n%s", o, err, out)
	}
	out, err = run("org", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var all []api.Organisation
	if err := json.Unmarshal([]byte(out), &all); err != nil || len(all) != 2 || all[0].Name != "brandenburg" || all[1].Name != "vcc" {
		t.Errorf("org list --json: %+v, %v", all, err)
	}
	if out, err := run("org", "list"); err != nil || !strings.Contains(out, "brandenburg") || !strings.Contains(out, "Land Brandenburg") {
		t.Errorf("org list: %v\n%s", err, out)
	}
}
