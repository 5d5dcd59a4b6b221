package fleet

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vcc/vccpki/internal/testtool"
)

// TestRecipeSecretsNotOnCommandLines runs each client's obtain.sh and
// renew.sh under strace and checks that no program they start has the
// EAB HMAC or the EST password in its arguments, which every user of the
// host can read in /proc/PID/cmdline (issue 13 item 13). certbot is the
// real one, refused by a closed port after it parsed its configuration
// file; lego and estclient stand in as /bin/true: their command line is
// what is checked (conformance/fleet's TestFleet runs all three for real).
func TestRecipeSecretsNotOnCommandLines(t *testing.T) {
	strace := testtool.Need(t, "strace")
	const hmac, password = "c2VjcmV0LWhtYWMtMTMxMw", "est-pass-1313-secret"
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	profiles := loadProfiles(t)
	reg, err := LoadRegistry("../configs/services.yaml", profiles)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, service, credFile string }{
		{"13.13 lego: the EAB HMAC is not on a command line", "argus", ""},
		{"13.13 certbot: the EAB HMAC is not on a command line", "veritas", "eab.ini"},
		{"13.13 estclient: the EST password is not on a command line", "vpb", "est.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, _ := reg.Get(tc.service)
			p, _ := profiles.Get(svc.Profile)
			files, err := Recipe(RecipeInput{Service: svc, Profile: p, ACMEDirectory: "https://" + closedAddr + "/acme/directory", ESTBase: "https://" + closedAddr,
				RootPEM:  []byte("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"),
				EABKeyID: "kid-1313", EABHMAC: hmac, ESTUser: "est-user", ESTPassword: password})
			if err != nil {
				t.Fatal(err)
			}
			recipe, state := t.TempDir(), filepath.Join(t.TempDir(), "state")
			if err := WriteRecipe(recipe, files); err != nil {
				t.Fatal(err)
			}
			for _, script := range []string{"obtain.sh", "renew.sh"} {
				trace := filepath.Join(t.TempDir(), "execve")
				cmd := exec.Command(strace, "-f", "-qq", "-e", "trace=execve", "-s", "65536", "-o", trace, filepath.Join(recipe, script))
				cmd.Env = append(os.Environ(), "DIR="+state, "LEGO=/bin/true", "ESTCLIENT=/bin/true", "RELOAD=true", "HTTP_LISTEN=127.0.0.1:0", "HTTP_PORT=0")
				out, _ := cmd.CombinedOutput() // the clients fail or do nothing: what matters is what was started
				execs, err := os.ReadFile(trace)
				if err != nil {
					t.Fatalf("%s: no trace: %v\n%s", script, err, out)
				}
				if !bytes.Contains(execs, []byte("execve(")) {
					t.Fatalf("%s: nothing was started:\n%s", script, out)
				}
				for _, line := range strings.Split(string(execs), "\n") {
					if strings.Contains(line, hmac) || strings.Contains(line, password) {
						t.Errorf("%s started a program with the credential in its arguments: %s", script, line)
					}
				}
				if script == "obtain.sh" && !strings.Contains(string(execs), `"--eab"`) && tc.service == "argus" {
					t.Errorf("lego was not started with --eab:\n%s", execs)
				}
			}
			if tc.credFile == "eab.ini" {
				if _, err := os.Stat(filepath.Join(state, "eab.ini")); err == nil {
					t.Error("certbot's EAB configuration file outlived obtain.sh")
				}
			}
			if tc.credFile == "est.json" {
				fi, err := os.Stat(filepath.Join(state, "est.json"))
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("est.json: %v, mode %v; want 0600", err, fi)
				}
			}
		})
	}
}

// TestWriteRecipeRefusesSymlinks: a recipe file whose name is taken by a
// symbolic link is refused and the link's target keeps its content and
// mode; an existing regular file is replaced and gets the recipe's mode.
func TestWriteRecipeRefusesSymlinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "authorized_keys")
	if err := os.WriteFile(target, []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "obtain.sh")); err != nil {
		t.Fatal(err)
	}
	err := WriteRecipe(dir, []RecipeFile{{Name: "obtain.sh", Mode: 0o700, Secret: true, Body: "#!/bin/sh\n# secret\n"}})
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("13.13 symlink in place of obtain.sh: err %v; want a refusal", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep me\n" {
		t.Errorf("13.13 the link's target was written: %q", b)
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o644 {
		t.Errorf("13.13 the link's target changed mode: %v", fi.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".obtain.sh.*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// An existing file keeps neither its content nor its looser mode.
	loose := filepath.Join(dir, "renew.sh")
	if err := os.WriteFile(loose, []byte("old\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(loose, 0o666)
	if err := WriteRecipe(dir, []RecipeFile{{Name: "renew.sh", Mode: 0o700, Body: "new\n"}}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(loose); fi.Mode().Perm() != 0o700 {
		t.Errorf("13.13 renew.sh kept mode %v; want 0700", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(loose); string(b) != "new\n" {
		t.Errorf("renew.sh: %q", b)
	}
}
