package est_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vcc/vccpki/conformance/harness"
)

// TestESTBasicFloodMemory is issue 13 item 2: 500 concurrent wrong
// passwords against the real `vccpki serve`, from 50 loopback addresses
// (so that the per-address limit lets them all reach the hash), keep the
// server's peak resident memory under 300 MB: the limiter token is taken
// before hashing and at most a few argon2id hashes run at once; the rest
// are answered 429 or 503 with Retry-After. A valid client enrols
// afterwards.
func TestESTBasicFloodMemory(t *testing.T) {
	const floods, addresses, limitMB = 500, 50, 300
	cfg, data := harness.Config(t, "")
	out, errOut, code := harness.Run(t, "est", "user", "add", "--config", cfg, "--service", "argus", "--user", "flood-survivor")
	password := regexp.MustCompile(`(?m)^password=(\S+)$`).FindStringSubmatch(out)
	if code != 0 || password == nil {
		t.Fatalf("est user add: exit %d\n%s%s", code, out, errOut)
	}
	// Without -race: the race detector multiplies the memory this bounds.
	srv := harness.StartServerWith(t, harness.BinaryWithoutRace(t), cfg)
	pid := srv.Cmd.Process.Pid
	before := vmHWM(t, pid)
	root, err := os.ReadFile(filepath.Join(data, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(root)
	enroll := srv.HTTPSURL + "/.well-known/est/argus/simpleenroll"
	csr := estCSR(t, "flood.argus.test")

	// post sends one enrolment from the loopback address from (127.0.0.x).
	post := func(from, user, password string, body []byte) (int, string, http.Header, error) {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, DialContext: d.DialContext, DisableKeepAlives: true}}
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, enroll, bytes.NewReader(body))
		if err != nil {
			return 0, "", nil, err
		}
		req.Header.Set("Content-Type", "application/pkcs10")
		req.SetBasicAuth(user, password)
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return resp.StatusCode, string(b), resp.Header, nil
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	start := make(chan struct{})
	for i := range floods {
		wg.Go(func() {
			<-start
			from := fmt.Sprintf("127.0.0.%d", 10+i%addresses)
			status, _, hdr, err := post(from, "mallory-"+strconv.Itoa(i), "not the password", csr)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				statuses[-1]++
				return
			}
			statuses[status]++
			if (status == 429 || status == 503) && hdr.Get("Retry-After") == "" {
				t.Errorf("%d without Retry-After", status)
			}
		})
	}
	close(start)
	wg.Wait()
	for status, n := range statuses {
		if status != 401 && status != 429 && status != 503 {
			t.Errorf("%d of the bad logins got %d; want 401, 429 or 503", n, status)
		}
	}
	peak := vmHWM(t, pid)
	t.Logf("statuses %v; peak RSS %d MB before, %d MB after the flood", statuses, before>>10, peak>>10)
	if peak>>10 >= limitMB {
		t.Errorf("peak RSS %d MB after %d concurrent bad logins; the bound is %d MB", peak>>10, floods, limitMB)
	}

	status, body, _, err := post("127.0.0.2", "flood-survivor", password[1], csr)
	if err != nil || status != http.StatusOK {
		t.Fatalf("a valid client after the flood: %d %v\n%s", status, err, body)
	}
	if _, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(body)); err != nil {
		t.Errorf("the enrolment reply is not base64: %v", err)
	}
}

// vmHWM is the peak resident set size of process pid, in KiB
// (/proc/PID/status, proc(5)).
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the server's memory: %v (this test needs Linux /proc)", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// estCSR is a base64 DER CSR for a fresh P-256 key and one DNS name, as
// an EST client posts it (RFC 7030 §4.2.1).
func estCSR(t *testing.T, name string) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, k)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(base64.StdEncoding.EncodeToString(der))
}
