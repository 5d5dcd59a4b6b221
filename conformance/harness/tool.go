package harness

import (
	"os/exec"
	"testing"
)

// debianPackage names the package that installs each tool the tests run.
var debianPackage = map[string]string{
	"openssl":       "openssl",
	"curl":          "curl",
	"bash":          "bash",
	"certbot":       "certbot",
	"dehydrated":    "dehydrated",
	"uacme":         "uacme",
	"softhsm2-util": "softhsm2",
	"pkcs11-tool":   "opensc",
	"strace":        "strace",
	"wrk":           "wrk",
	"initdb":        "postgresql",
	"unshare":       "util-linux",
}

// Tool returns the path of a command-line tool, or fails the test at once
// with the command that installs it: a conformance test never skips.
// Call it in the first lines of a test, before anything slow.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		pkg := debianPackage[name]
		if pkg == "" {
			pkg = name
		}
		t.Fatalf("%s is needed by this test and is not installed; install it with: apt-get install -y --no-install-recommends %s (make deps installs every one)", name, pkg)
	}
	return p
}
