// Package harness is what every conformance test shares: the vccpki binary
// (built once per `go test` run, with -race), a `vccpki serve` on free
// loopback ports with a throwaway data directory, the tools a test needs,
// a fake DNS, free ports, Eventually and a throwaway PostgreSQL.
package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// RepoRoot is the root of the vccpki repository (configs/, README.md).
var RepoRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}()

// builds of the binary, once per test binary: with and without -race.
var builds [2]struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the vccpki binary under test. `go test` runs each package
// as a child of one go command, so the packages of one run share one build
// keyed by that parent's process id: the first package builds it (with
// -race) under a lock, the others find it. VCCPKI_BIN names a binary to
// use instead.
func Binary(t testing.TB) string {
	t.Helper()
	return binary(t, true)
}

// BinaryWithoutRace is the binary built without the race detector, for
// the tests that bound the server's memory: -race multiplies it.
func BinaryWithoutRace(t testing.TB) string {
	t.Helper()
	return binary(t, false)
}

func binary(t testing.TB, race bool) string {
	t.Helper()
	i, name, flags := 0, "vccpki", []string{"-race"}
	if !race {
		i, name, flags = 1, "vccpki-norace", nil
	}
	b := &builds[i]
	b.once.Do(func() {
		if p := os.Getenv("VCCPKI_BIN"); p != "" {
			b.path = p
			return
		}
		b.path, b.err = sharedBuild(name, flags)
	})
	if b.err != nil {
		t.Fatalf("building vccpki: %v", b.err)
	}
	return b.path
}

func sharedBuild(name string, flags []string) (string, error) {
	base := filepath.Join(os.TempDir(), "vccpki-conformance")
	if err := os.MkdirAll(base, 0o700); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(base, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	removeStaleBuilds(base)
	dir := filepath.Join(base, strconv.Itoa(os.Getppid()))
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	cmd := exec.Command("go", append(append([]string{"build"}, flags...), "-o", bin, "github.com/vcc/vccpki/cmd/vccpki")...)
	cmd.Dir = filepath.Join(RepoRoot, "conformance")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("go build %v ./cmd/vccpki: %v\n%s", flags, err, out)
	}
	return bin, nil
}

// removeStaleBuilds deletes the builds of go commands that have exited.
func removeStaleBuilds(base string) {
	entries, _ := os.ReadDir(base)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(filepath.Join(base, e.Name()))
		}
	}
}

// Go tools the tests build from the conformance module's pinned versions
// (its go.mod tool lines), once per test binary, by package path.
var goTools sync.Map // package path -> *builtTool

type builtTool struct {
	once sync.Once
	bin  string
	err  error
}

// GoTool builds the command at pkg (e.g. github.com/go-acme/lego/v4/cmd/lego)
// once and returns the binary; flags are go build's (-tags ...).
func GoTool(t testing.TB, pkg string, flags ...string) string {
	t.Helper()
	v, _ := goTools.LoadOrStore(pkg+" "+strings.Join(flags, " "), &builtTool{})
	bt := v.(*builtTool)
	bt.once.Do(func() {
		dir, err := os.MkdirTemp("", "vccpki-tool")
		if err != nil {
			bt.err = err
			return
		}
		bt.bin = filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", append(append([]string{"build"}, flags...), "-o", bt.bin, pkg)...)
		cmd.Dir = filepath.Join(RepoRoot, "conformance")
		if out, err := cmd.CombinedOutput(); err != nil {
			bt.err = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if bt.err != nil {
		t.Fatalf("building %s (go build %s): %v", filepath.Base(pkg), pkg, bt.err)
	}
	return bt.bin
}

// Lego is the lego CLI at the version go.mod pins.
func Lego(t testing.TB) string { return GoTool(t, "github.com/go-acme/lego/v4/cmd/lego") }

// ESTClient is globalsign's estclient at the version go.mod pins.
func ESTClient(t testing.TB) string { return GoTool(t, "github.com/globalsign/est/cmd/estclient") }
