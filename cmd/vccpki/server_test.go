package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/letsencrypt/challtestsrv"
)

// servedProcess is a `vccpki serve` a test started on free ports.
type servedProcess struct {
	cmd      *exec.Cmd
	banner   string
	stderr   *syncBuffer
	httpsURL string        // https://127.0.0.1:PORT
	httpURL  string        // http://127.0.0.1:PORT
	metrics  string        // http://127.0.0.1:PORT/metrics, its own listener
	done     chan struct{} // closed when the process has exited
	err      error         // its exit status, once done is closed
}

// syncBuffer is a bytes.Buffer the child's stderr copier and the test may
// use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer runs `vccpki serve --config cfg` on free loopback ports
// (metrics too) with extra flags, waits for its banner, and kills it when the test ends.
func startServer(t testing.TB, cfg string, flags ...string) *servedProcess {
	t.Helper()
	args := append([]string{"serve", "--config", cfg, "--https-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"}, flags...)
	s := &servedProcess{cmd: exec.Command(vccpkiBin, args...), stderr: &syncBuffer{}, done: make(chan struct{})}
	s.cmd.Env = append(os.Environ(), "VCCPKI_KEK_PASSPHRASE="+testPassphrase)
	s.cmd.Stderr = s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
	})
	var banner strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		banner.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "root certificate:") {
			break
		}
	}
	go func() {
		io.Copy(io.Discard, stdout)
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	s.banner = banner.String()
	httpsURL := regexp.MustCompile(`HTTPS:\s+(https://\S+)`).FindStringSubmatch(s.banner)
	httpURL := regexp.MustCompile(`HTTP:\s+(http://\S+)`).FindStringSubmatch(s.banner)
	if httpsURL == nil || httpURL == nil {
		t.Fatalf("banner:\n%s\nstderr:\n%s", s.banner, s.stderr)
	}
	s.httpsURL, s.httpURL = httpsURL[1], httpURL[1]
	if m := regexp.MustCompile(`Metrics\s+(http://\S+)`).FindStringSubmatch(s.banner); m != nil {
		s.metrics = m[1]
	}
	return s
}

// bannerURL returns the URL on the banner line that starts with label
// ("ACME directory", "EST", "Time-stamps"), failing the test without one.
func (s *servedProcess) bannerURL(t *testing.T, label string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(label) + `\s+(https?://\S+)`).FindStringSubmatch(s.banner)
	if m == nil {
		t.Fatalf("no %q line in the banner:\n%s\nstderr:\n%s", label, s.banner, s.stderr)
	}
	return m[1]
}

// wait waits for the process to exit and returns its exit status.
func (s *servedProcess) wait() error {
	<-s.done
	return s.err
}

// stop sends SIGTERM and expects a clean exit within 30 seconds.
func (s *servedProcess) stop(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
		if s.err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", s.err, s.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not stop within 30s of SIGTERM")
	}
}

// goTools holds the Go tools the tests build from the module's pinned
// versions (go.mod's tool lines), once per test binary, by package path.
var goTools sync.Map // package path -> *builtTool

type builtTool struct {
	once sync.Once
	bin  string
	err  error
}

// goTool builds the command at pkg (e.g. github.com/go-acme/lego/v4/cmd/lego)
// once and returns the binary.
func goTool(t *testing.T, pkg string) string {
	t.Helper()
	v, _ := goTools.LoadOrStore(pkg, &builtTool{})
	bt := v.(*builtTool)
	bt.once.Do(func() {
		dir, err := os.MkdirTemp("", "vccpki-tool")
		if err != nil {
			bt.err = err
			return
		}
		bt.bin = filepath.Join(dir, filepath.Base(pkg))
		if out, err := exec.Command("go", "build", "-o", bt.bin, pkg).CombinedOutput(); err != nil {
			bt.err = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if bt.err != nil {
		t.Fatalf("building %s (go build %s): %v", filepath.Base(pkg), pkg, bt.err)
	}
	return bt.bin
}

func legoCLI(t *testing.T) string { return goTool(t, "github.com/go-acme/lego/v4/cmd/lego") }

func estclientCLI(t *testing.T) string { return goTool(t, "github.com/globalsign/est/cmd/estclient") }

// fakeDNS starts challtestsrv's DNS server on a free loopback port, for
// the ACME validator (--va-dns) and the clients of a test, and returns it
// with its address.
func fakeDNS(t testing.TB) (*challtestsrv.ChallSrv, string) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(freeLoopbackPort(t))
	cs, err := challtestsrv.New(challtestsrv.Config{DNSAddrs: []string{addr}, Log: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	cs.SetDefaultDNSIPv6("")
	go cs.Run()
	t.Cleanup(cs.Shutdown)
	return cs, addr
}
