package harness

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Passphrase is the key-encryption passphrase every test server and
// command gets in VCCPKI_KEK_PASSPHRASE.
const Passphrase = "cmd test passphrase, long enough"

// Server is a `vccpki serve` a test started on free ports.
type Server struct {
	Cmd      *exec.Cmd
	Banner   string
	Stderr   *SyncBuffer
	HTTPSURL string // https://127.0.0.1:PORT
	HTTPURL  string // http://127.0.0.1:PORT
	Metrics  string // http://127.0.0.1:PORT/metrics, its own listener
	done     chan struct{}
	err      error // its exit status, once done is closed
}

// SyncBuffer is a bytes.Buffer the child's stderr copier and the test may
// use at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// StartServer runs `vccpki serve --config cfg` on free loopback ports
// (metrics too) with extra flags, waits for its banner, and kills it when
// the test ends.
func StartServer(t testing.TB, cfg string, flags ...string) *Server {
	t.Helper()
	return StartServerWith(t, Binary(t), cfg, flags...)
}

// StartServerWith is StartServer with another build of the binary
// (BinaryWithoutRace).
func StartServerWith(t testing.TB, bin, cfg string, flags ...string) *Server {
	t.Helper()
	args := append([]string{"serve", "--config", cfg, "--https-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"}, flags...)
	s := &Server{Cmd: exec.Command(bin, args...), Stderr: &SyncBuffer{}, done: make(chan struct{})}
	s.Cmd.Env = append(os.Environ(), "VCCPKI_KEK_PASSPHRASE="+Passphrase)
	s.Cmd.Stderr = s.Stderr
	stdout, err := s.Cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Cmd.Process.Kill()
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
		s.err = s.Cmd.Wait()
		close(s.done)
	}()
	s.Banner = banner.String()
	httpsURL := regexp.MustCompile(`HTTPS:\s+(https://\S+)`).FindStringSubmatch(s.Banner)
	httpURL := regexp.MustCompile(`HTTP:\s+(http://\S+)`).FindStringSubmatch(s.Banner)
	if httpsURL == nil || httpURL == nil {
		t.Fatalf("banner:\n%s\nstderr:\n%s", s.Banner, s.Stderr)
	}
	s.HTTPSURL, s.HTTPURL = httpsURL[1], httpURL[1]
	if m := regexp.MustCompile(`Metrics\s+(http://\S+)`).FindStringSubmatch(s.Banner); m != nil {
		s.Metrics = m[1]
	}
	return s
}

// BannerURL returns the URL on the banner line that starts with label
// ("ACME directory", "EST", "Time-stamps"), failing the test without one.
func (s *Server) BannerURL(t testing.TB, label string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(label) + `\s+(https?://\S+)`).FindStringSubmatch(s.Banner)
	if m == nil {
		t.Fatalf("no %q line in the banner:\n%s\nstderr:\n%s", label, s.Banner, s.Stderr)
	}
	return m[1]
}

// Wait waits for the process to exit and returns its exit status.
func (s *Server) Wait() error {
	<-s.done
	return s.err
}

// Done is closed when the process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Stop sends SIGTERM and expects a clean exit within 30 seconds.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
		if s.err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", s.err, s.Stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not stop within 30s of SIGTERM")
	}
}
