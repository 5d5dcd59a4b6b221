// Package testtool is what the tests of both modules (this one and
// conformance/) share to find a command-line tool and free loopback
// ports. Tests only: nothing in the server imports it.
package testtool

import (
	"net"
	"os/exec"
	"testing"
)

// debianPackage names the package that installs each tool the tests run;
// .ci/install-deps installs them all.
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
	"sha256sum":     "coreutils",
	"wrk":           "wrk",
	"initdb":        "postgresql",
	"unshare":       "util-linux",
}

// Need returns the path of a command-line tool, or fails the test at once
// with the command that installs it: a test that needs a tool never
// skips. Call it in the first lines of a test, before anything slow.
func Need(t testing.TB, name string) string {
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

// FreePorts returns n distinct loopback TCP ports that were free a moment
// ago.
func FreePorts(n int) ([]int, error) {
	seen := map[int]bool{}
	var ports []int
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	return ports, nil
}
