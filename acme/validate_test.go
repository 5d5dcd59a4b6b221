package acme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(addr)
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHTTP01 checks the http-01 validator against loopback servers that
// answer right, wrong, too much, or not at all (RFC 8555 §8.3).
func TestHTTP01(t *testing.T) {
	const token, keyAuth = "tok", "tok.thumb"
	// The right answer on a port the validator must not be sent to.
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(keyAuth)) }))
	defer elsewhere.Close()
	tests := []struct {
		name    string
		handler http.HandlerFunc // nil: nothing listens
		want    string           // problem type; "" for valid
	}{
		{"right answer", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(keyAuth)) }, ""},
		{"trailing whitespace", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(keyAuth + "\r\n ")) }, ""},
		{"wrong answer", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("tok.other")) }, probIncorrectResponse},
		{"404", http.NotFound, probUnauthorized},
		{"answer over the size limit", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(strings.Repeat("x", 5000))) }, probUnauthorized},
		{"redirect to the right answer", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/elsewhere" {
				w.Write([]byte(keyAuth))
				return
			}
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, ""},
		{"redirect to another port", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+"/.well-known/acme-challenge/tok", http.StatusFound)
		}, probConnection},
		{"redirect loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, r.URL.Path, http.StatusFound) }, probConnection},
		{"too slow", func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(800 * time.Millisecond)
			w.Write([]byte(keyAuth))
		}, probConnection},
		{"nothing listens", nil, probConnection},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			port := 0
			if tc.handler != nil {
				srv := httptest.NewServer(tc.handler)
				defer srv.Close()
				port = portOf(t, srv.Listener.Addr().String())
			} else {
				l, _ := net.Listen("tcp", "127.0.0.1:0")
				port = portOf(t, l.Addr().String())
				l.Close()
			}
			v, err := newValidator(ValidatorConfig{HTTPPort: port, Timeout: 300 * time.Millisecond, Attempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			p := v.validate(t.Context(), challHTTP01, identifier{"ip", "127.0.0.1"}, token, keyAuth, nil)
			got := ""
			if p != nil {
				got = p.Type
			}
			if got != tc.want {
				t.Fatalf("got %q (%v), want %q", got, p, tc.want)
			}
		})
	}
}

// TestTLSALPN01 checks the certificate rules of RFC 8737 §3 against
// loopback TLS servers presenting good and bad challenge certificates.
func TestTLSALPN01(t *testing.T) {
	const keyAuth = "tok.thumb"
	sum := sha256.Sum256([]byte(keyAuth))
	good, _ := asn1.Marshal(sum[:])
	wrong := sha256.Sum256([]byte("other"))
	wrongExt, _ := asn1.Marshal(wrong[:])
	type certSpec struct {
		ip       bool // SAN is 127.0.0.1 instead of the name
		extra    bool // a second SAN
		ext      []byte
		critical bool
	}
	tests := []struct {
		name string
		id   identifier
		spec certSpec
		alpn bool
		want string
	}{
		{"good DNS", identifier{"dns", "alpn.test"}, certSpec{ext: good, critical: true}, true, ""},
		{"good IP (RFC 8738)", identifier{"ip", "127.0.0.1"}, certSpec{ip: true, ext: good, critical: true}, true, ""},
		{"extension not critical", identifier{"dns", "alpn.test"}, certSpec{ext: good}, true, probUnauthorized},
		{"wrong digest", identifier{"dns", "alpn.test"}, certSpec{ext: wrongExt, critical: true}, true, probIncorrectResponse},
		{"no acmeIdentifier", identifier{"dns", "alpn.test"}, certSpec{}, true, probUnauthorized},
		{"two names", identifier{"dns", "alpn.test"}, certSpec{extra: true, ext: good, critical: true}, true, probUnauthorized},
		{"no acme-tls/1", identifier{"dns", "alpn.test"}, certSpec{ext: good, critical: true}, false, probUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
			if tc.spec.ip {
				tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
			} else {
				tmpl.DNSNames = []string{"alpn.test"}
			}
			if tc.spec.extra {
				tmpl.DNSNames = append(tmpl.DNSNames, "other.test")
			}
			if tc.spec.ext != nil {
				tmpl.ExtraExtensions = []pkix.Extension{{Id: oidACMEIdentifier, Critical: tc.spec.critical, Value: tc.spec.ext}}
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
			if err != nil {
				t.Fatal(err)
			}
			var sni string
			cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
				GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) { sni = h.ServerName; return nil, nil }}
			if tc.alpn {
				cfg.NextProtos = []string{"acme-tls/1"}
			}
			l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.(*tls.Conn).Handshake()
					c.Close()
				}
			}()
			// The test server listens on 127.0.0.1: dial it for every identifier.
			v, err := newValidator(ValidatorConfig{TLSPort: portOf(t, l.Addr().String()), Timeout: time.Second, Attempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			p := v.tlsALPN01Via(t.Context(), tc.id, "127.0.0.1", keyAuth)
			got := ""
			if p != nil {
				got = p.Type
			}
			if got != tc.want {
				t.Fatalf("got %q (%v), want %q", got, p, tc.want)
			}
			if tc.want == "" && tc.id.Type == "ip" && sni != "1.0.0.127.in-addr.arpa" {
				t.Errorf("SNI %q, want the reverse name (RFC 8738 §6)", sni)
			}
		})
	}
}

// TestHTTP01RedirectsAndEcho checks the redirect policy of http-01 (at
// most 10 hops, http/https, the validation ports, host names the order's
// profile admits) and that no problem repeats what a server answered:
// a challenge must not read internal pages back (issue 13 item 3).
func TestHTTP01RedirectsAndEcho(t *testing.T) {
	const token, keyAuth = "tok", "tok.thumb"
	const secret = "INTERNAL-SECRET: db_password=hunter2"
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(keyAuth)) }))
	defer elsewhere.Close()
	onlyLocalhost := func(host string) bool { return host == "localhost" }
	loopbackIP := identifier{"ip", "127.0.0.1"}
	redirectTo := func(target string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, target, http.StatusFound) }
	}
	hops := func(n int) http.HandlerFunc { // n redirects, then the answer
		return func(w http.ResponseWriter, r *http.Request) {
			i := 0
			if s, ok := strings.CutPrefix(r.URL.Path, "/hop/"); ok {
				i, _ = strconv.Atoi(s)
			}
			if i >= n {
				w.Write([]byte(keyAuth))
				return
			}
			http.Redirect(w, r, "/hop/"+strconv.Itoa(i+1), http.StatusFound)
		}
	}
	tests := []struct {
		name    string
		id      identifier
		admits  hostAdmitter
		handler func(port int) http.HandlerFunc // the challenge URL; /ok answers right, /admin holds the secret
		raw     bool                            // a TCP listener that answers the secret, not HTTP
		want    string
	}{
		{"13.3 redirect to a host name the profile admits", loopbackIP, onlyLocalhost,
			func(p int) http.HandlerFunc { return redirectTo("http://localhost:" + strconv.Itoa(p) + "/ok") }, false, ""},
		{"13.3 redirect without a port goes to the validation port", loopbackIP, onlyLocalhost,
			func(int) http.HandlerFunc { return redirectTo("http://localhost/ok") }, false, ""},
		{"13.3 redirect to a host name the profile does not admit", loopbackIP, func(string) bool { return false },
			func(p int) http.HandlerFunc { return redirectTo("http://localhost:" + strconv.Itoa(p) + "/ok") }, false, probConnection},
		{"13.3 redirect to an IP literal", identifier{"dns", "localhost"}, onlyLocalhost,
			func(p int) http.HandlerFunc { return redirectTo("http://127.0.0.1:" + strconv.Itoa(p) + "/ok") }, false, probConnection},
		{"13.3 redirect to the metadata address", identifier{"dns", "localhost"}, onlyLocalhost,
			func(int) http.HandlerFunc { return redirectTo("http://169.254.169.254/latest/meta-data/") }, false, probConnection},
		{"13.3 redirect to a port outside the validation ports", loopbackIP, onlyLocalhost,
			func(int) http.HandlerFunc {
				return redirectTo("http://localhost:" + strconv.Itoa(portOf(t, elsewhere.Listener.Addr().String())) + "/ok")
			}, false, probConnection},
		{"13.3 redirect to an ftp URL", loopbackIP, onlyLocalhost,
			func(p int) http.HandlerFunc { return redirectTo("ftp://localhost:" + strconv.Itoa(p) + "/ok") }, false, probConnection},
		{"13.3 ten redirects are followed", loopbackIP, nil, func(int) http.HandlerFunc { return hops(10) }, false, ""},
		{"13.3 eleven redirects are not", loopbackIP, nil, func(int) http.HandlerFunc { return hops(11) }, false, probConnection},
		{"13.3 answer holding a secret is not echoed", loopbackIP, nil,
			func(int) http.HandlerFunc { return redirectTo("/admin") }, false, probIncorrectResponse},
		{"13.3 redirect to an admitted internal page is not echoed", loopbackIP, onlyLocalhost,
			func(p int) http.HandlerFunc { return redirectTo("http://localhost:" + strconv.Itoa(p) + "/admin") }, false, probIncorrectResponse},
		{"13.3 error status with a secret body is not echoed", loopbackIP, nil,
			func(int) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { http.Error(w, secret, http.StatusInternalServerError) }
			}, false, probUnauthorized},
		{"13.3 non-HTTP answer is not echoed", loopbackIP, nil, nil, true, probConnection},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port := portOf(t, l.Addr().String())
			if tc.raw {
				defer l.Close()
				go func() {
					for {
						c, err := l.Accept()
						if err != nil {
							return
						}
						c.Write([]byte(secret + "\r\n\r\n"))
						c.Close()
					}
				}()
			} else {
				challenge := tc.handler(port)
				srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					switch r.URL.Path {
					case "/ok":
						w.Write([]byte(keyAuth))
					case "/admin":
						w.Write([]byte(secret))
					default:
						challenge(w, r)
					}
				}))
				srv.Listener.Close()
				srv.Listener = l
				srv.Start()
				defer srv.Close()
			}
			closed, _ := net.Listen("tcp", "127.0.0.1:0")
			tlsPort := portOf(t, closed.Addr().String())
			closed.Close()
			v, err := newValidator(ValidatorConfig{HTTPPort: port, TLSPort: tlsPort, Timeout: 2 * time.Second, Attempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			p := v.validate(t.Context(), challHTTP01, tc.id, token, keyAuth, tc.admits)
			got := ""
			if p != nil {
				got = p.Type
			}
			if got != tc.want {
				t.Fatalf("got %q (%v), want %q", got, p, tc.want)
			}
			if p != nil && (strings.Contains(p.Detail, "INTERNAL-SECRET") || strings.Contains(p.Detail, "hunter2")) {
				t.Fatalf("the problem repeats the server's answer: %q", p.Detail)
			}
		})
	}
}

// TestTLSALPN01DoesNotEcho: a service on the tls-alpn-01 port that
// answers something other than TLS is a tls problem whose detail does not
// repeat what it sent (issue 13 item 3).
func TestTLSALPN01DoesNotEcho(t *testing.T) {
	const secret = "INTERNAL-SECRET: db_password=hunter2"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(secret + "\r\n"))
			c.Close()
		}
	}()
	v, err := newValidator(ValidatorConfig{TLSPort: portOf(t, l.Addr().String()), Timeout: time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := v.tlsALPN01Via(t.Context(), identifier{"dns", "alpn.test"}, "127.0.0.1", "tok.thumb")
	if p == nil || p.Type != probTLS {
		t.Fatalf("13.3 non-TLS answer on the tls-alpn-01 port: got %v; want %s", p, probTLS)
	}
	if strings.Contains(p.Detail, "INTERNAL-SECRET") || strings.Contains(p.Detail, "hunter2") {
		t.Fatalf("13.3 the problem repeats the answer: %q", p.Detail)
	}
}
