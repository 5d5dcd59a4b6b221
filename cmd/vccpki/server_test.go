package main

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

// servedProcess is a `vccpki serve` a test started on free ports.
type servedProcess struct {
	cmd      *exec.Cmd
	banner   string
	stderr   *syncBuffer
	httpsURL string        // https://127.0.0.1:PORT
	httpURL  string        // http://127.0.0.1:PORT
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

// startServer runs `vccpki serve --config cfg` on free loopback ports with
// extra flags, waits for its banner, and kills it when the test ends.
func startServer(t testing.TB, cfg string, flags ...string) *servedProcess {
	t.Helper()
	args := append([]string{"serve", "--config", cfg, "--https-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, flags...)
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
