package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vcc/vccpki/api/client"
)

// TestRemoteSelection: which commands go to a server: --server, then
// $VCCPKI_SERVER, then the stored login; --local or nothing at all is the
// local store. A server without a login, or another than the login's, is
// refused with the command to run.
func TestRemoteSelection(t *testing.T) {
	tests := []struct {
		name     string
		loggedIn string // server of the stored login, "" for none
		flags    remoteFlags
		env      string
		want     string // the client's server, "" for local mode
		wantErr  string
	}{
		{"nothing: local", "", remoteFlags{}, "", "", ""},
		{"--local while logged in", "https://ca.example", remoteFlags{local: true}, "", "", ""},
		{"stored login", "https://ca.example", remoteFlags{}, "", "https://ca.example", ""},
		{"--server of the login", "https://ca.example", remoteFlags{server: "https://ca.example/"}, "", "https://ca.example", ""},
		{"environment", "https://ca.example", remoteFlags{}, "https://ca.example", "https://ca.example", ""},
		{"--server without login", "", remoteFlags{server: "https://ca.example"}, "", "", "run vccpki login --server https://ca.example"},
		{"environment without login", "", remoteFlags{}, "https://ca.example", "", "run vccpki login --server https://ca.example"},
		{"another server", "https://ca.example", remoteFlags{server: "https://other.example"}, "", "", "logged in to https://ca.example, not https://other.example"},
		{"--local and --server", "", remoteFlags{local: true, server: "https://ca.example"}, "", "", "exclude each other"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("XDG_CONFIG_HOME", dir)
			t.Setenv(serverEnv, tc.env)
			if tc.loggedIn != "" {
				cr := &client.Credentials{Server: tc.loggedIn, Grant: client.GrantDevice, AccessToken: "at"}
				if err := cr.Save(filepath.Join(dir, "vccpki", "credentials.json")); err != nil {
					t.Fatal(err)
				}
			}
			c, err := tc.flags.client()
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case tc.want == "" && c != nil:
				t.Fatalf("remote %s, want local", c.Base)
			case tc.want != "" && (c == nil || c.Base != tc.want):
				t.Fatalf("client %v, want %s", c, tc.want)
			}
		})
	}
}
