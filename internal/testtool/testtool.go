// Package testtool is what the tests of both modules (this one and
// conformance/) share to find a command-line tool and free loopback
// ports. Tests only: nothing in the server imports it.
package testtool

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
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
// ago. They are drawn at random below the kernel's ephemeral range: a
// server of a test running in parallel that listens on port 0 gets an
// ephemeral port, so it can never be handed one of these between the
// moment they are chosen and the moment their user binds them.
func FreePorts(n int) ([]int, error) {
	lo, hi := 10000, ephemeralStart()
	if hi-lo < 1000 { // an unusual range: fall back to the kernel's choice
		return kernelPorts(n)
	}
	seen := map[int]bool{}
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000*n {
			return nil, fmt.Errorf("no free loopback port found in %d..%d", lo, hi-1)
		}
		p := lo + rand.IntN(hi-lo)
		if seen[p] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue // taken
		}
		l.Close()
		seen[p] = true
		ports = append(ports, p)
	}
	return ports, nil
}

// ephemeralStart is the first port of the kernel's ephemeral range
// (Linux default 32768).
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	v, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return v
}

// kernelPorts asks the kernel for n distinct free ports.
func kernelPorts(n int) ([]int, error) {
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
