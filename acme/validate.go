package acme

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ValidatorConfig configures challenge validation (the "va" section and
// the --va-* flags).
type ValidatorConfig struct {
	// DNS is the DNS server (HOST:PORT) asked for A/AAAA and TXT records;
	// empty for the system resolver.
	DNS string
	// HTTPPort and TLSPort are where http-01 (RFC 8555 §8.3: 80) and
	// tls-alpn-01 (RFC 8737 §3: 443) are checked; tests move them.
	HTTPPort int
	TLSPort  int
	// Timeout bounds one attempt (default 5s); Attempts is how often a
	// validation that failed to connect is tried (default 3).
	Timeout  time.Duration
	Attempts int
	// MaxResponseBytes bounds the http-01 response read (default 4 KiB;
	// a key authorization is under 200 bytes).
	MaxResponseBytes int64
}

func (c *ValidatorConfig) defaults() {
	if c.HTTPPort == 0 {
		c.HTTPPort = 80
	}
	if c.TLSPort == 0 {
		c.TLSPort = 443
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Attempts <= 0 {
		c.Attempts = 3
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = 4 << 10
	}
}

type validator struct {
	cfg      ValidatorConfig
	resolver *net.Resolver
	dialer   *net.Dialer
	http     *http.Client
}

func newValidator(cfg ValidatorConfig) (*validator, error) {
	cfg.defaults()
	v := &validator{cfg: cfg, resolver: net.DefaultResolver}
	if cfg.DNS != "" {
		if _, _, err := net.SplitHostPort(cfg.DNS); err != nil {
			return nil, fmt.Errorf("validator DNS server %q is not HOST:PORT", cfg.DNS)
		}
		d := &net.Dialer{Timeout: cfg.Timeout}
		v.resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, cfg.DNS)
		}}
	}
	v.dialer = &net.Dialer{Timeout: cfg.Timeout, Resolver: v.resolver}
	v.http = &http.Client{
		Timeout: cfg.Timeout,
		Transport: &http.Transport{
			DialContext:            v.dialer.DialContext,
			DisableKeepAlives:      true,
			ResponseHeaderTimeout:  cfg.Timeout,
			MaxResponseHeaderBytes: 16 << 10,
			// http-01 may redirect to https (RFC 8555 §8.3); the target's
			// certificate is not checked, as Let's Encrypt does.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		},
	}
	return v, nil
}

// validate checks one challenge, retrying failures to connect. nil means
// the challenge is valid. admits is what http-01 redirects may reach
// besides the identifier (redirectPolicy).
func (v *validator) validate(ctx context.Context, typ string, id identifier, token, keyAuth string, admits hostAdmitter) *problem {
	var p *problem
	for attempt := 0; attempt < v.cfg.Attempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return p
			case <-time.After(time.Duration(attempt) * 250 * time.Millisecond):
			}
		}
		actx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
		switch typ {
		case challHTTP01:
			p = v.http01(actx, id, token, keyAuth, admits)
		case challDNS01:
			p = v.dns01(actx, id, keyAuth)
		case challTLSALPN01:
			p = v.tlsALPN01(actx, id, keyAuth)
		default:
			p = malformed("unknown challenge type %q", typ)
		}
		cancel()
		if p == nil || (p.Type != probConnection && p.Type != probDNS) {
			break
		}
	}
	if p != nil {
		p.Identifier = &identifier{id.Type, id.Value}
		if p.Status == 0 {
			p.Status = http.StatusForbidden
		}
	}
	return p
}

func failed(typ, format string, args ...any) *problem {
	return &problem{Type: typ, Status: http.StatusForbidden, Detail: fmt.Sprintf(format, args...)}
}

// http01 fetches the key authorization (RFC 8555 §8.3). No problem it
// returns holds anything the server sent: the status, the length or that
// it did not match, so a redirect cannot read internal pages back.
func (v *validator) http01(ctx context.Context, id identifier, token, keyAuth string, admits hostAdmitter) *problem {
	host := bracketIPv6(id.Value)
	if v.cfg.HTTPPort != 80 {
		host = net.JoinHostPort(id.Value, strconv.Itoa(v.cfg.HTTPPort))
	}
	url := "http://" + host + "/.well-known/acme-challenge/" + token
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return failed(probMalformed, "building the http-01 request: %v", err)
	}
	req.Header.Set("User-Agent", "vccpki-validator")
	client := *v.http
	client.CheckRedirect = v.redirectPolicy(id, admits)
	resp, err := client.Do(req)
	if err != nil {
		return fetchProblem(url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return failed(probUnauthorized, "%s answered HTTP %d", url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, v.cfg.MaxResponseBytes+1))
	if err != nil {
		return fetchProblem(url, err)
	}
	if int64(len(body)) > v.cfg.MaxResponseBytes {
		return failed(probUnauthorized, "%s answered more than %d bytes", url, v.cfg.MaxResponseBytes)
	}
	// RFC 8555 §8.3: the server trims whitespace before comparing.
	got := bytes.TrimRight(body, " \t\r\n")
	if subtle.ConstantTimeCompare(got, []byte(keyAuth)) != 1 {
		return failed(probIncorrectResponse, "%s answered %d bytes that are not the key authorization", url, len(got))
	}
	return nil
}

// dns01 looks up the TXT record (RFC 8555 §8.4).
func (v *validator) dns01(ctx context.Context, id identifier, keyAuth string) *problem {
	name := "_acme-challenge." + id.Value
	txts, err := v.resolver.LookupTXT(ctx, name)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return failed(probIncorrectResponse, "no TXT record at %s", name)
		}
		return failed(probDNS, "looking up TXT %s: %v", name, shortNetErr(err))
	}
	sum := sha256.Sum256([]byte(keyAuth))
	want := b64.EncodeToString(sum[:])
	for _, t := range txts {
		if t == want {
			return nil
		}
	}
	return failed(probIncorrectResponse, "the TXT records at %s do not hold the key authorization digest", name)
}

// oidACMEIdentifier is id-pe-acmeIdentifier (RFC 8737 §6.1).
var oidACMEIdentifier = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}

// tlsALPN01 checks the acme-tls/1 certificate (RFC 8737 §3; for IP
// addresses RFC 8738 §6: SNI is the reverse-DNS name).
func (v *validator) tlsALPN01(ctx context.Context, id identifier, keyAuth string) *problem {
	return v.tlsALPN01Via(ctx, id, id.Value, keyAuth)
}

// tlsALPN01Via validates id by connecting to host (the identifier itself
// outside tests).
func (v *validator) tlsALPN01Via(ctx context.Context, id identifier, host, keyAuth string) *problem {
	sni := id.Value
	var ip netip.Addr
	if id.Type == "ip" {
		ip = netip.MustParseAddr(id.Value)
		sni = reverseName(ip)
	}
	addr := net.JoinHostPort(host, strconv.Itoa(v.cfg.TLSPort))
	raw, err := v.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return failed(connectionOrDNS(err), "connecting to %s: %v", addr, shortNetErr(err))
	}
	defer raw.Close()
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	conn := tls.Client(raw, &tls.Config{
		ServerName:         sni,
		NextProtos:         []string{"acme-tls/1"},
		InsecureSkipVerify: true, // the certificate is self-signed by design
		MinVersion:         tls.VersionTLS12,
	})
	if err := conn.HandshakeContext(ctx); err != nil {
		return failed(probTLS, "TLS handshake with %s: %v", addr, shortNetErr(err))
	}
	cs := conn.ConnectionState()
	if cs.NegotiatedProtocol != "acme-tls/1" {
		return failed(probUnauthorized, "%s did not negotiate the acme-tls/1 protocol", addr)
	}
	if len(cs.PeerCertificates) == 0 {
		return failed(probUnauthorized, "%s sent no certificate", addr)
	}
	leaf := cs.PeerCertificates[0]
	if id.Type == "ip" {
		if len(leaf.IPAddresses) != 1 || len(leaf.DNSNames) != 0 || !leaf.IPAddresses[0].Equal(net.IP(ip.AsSlice())) {
			return failed(probUnauthorized, "the acme-tls/1 certificate must name exactly %s", id.Value)
		}
	} else if len(leaf.DNSNames) != 1 || len(leaf.IPAddresses) != 0 || !strings.EqualFold(leaf.DNSNames[0], id.Value) {
		return failed(probUnauthorized, "the acme-tls/1 certificate must name exactly %s", id.Value)
	}
	return checkACMEIdentifierExt(leaf, keyAuth)
}

func checkACMEIdentifierExt(leaf *x509.Certificate, keyAuth string) *problem {
	sum := sha256.Sum256([]byte(keyAuth))
	for _, ext := range leaf.Extensions {
		if !ext.Id.Equal(oidACMEIdentifier) {
			continue
		}
		if !ext.Critical {
			return failed(probUnauthorized, "the acmeIdentifier extension must be critical (RFC 8737 §3)")
		}
		var got []byte
		if rest, err := asn1.Unmarshal(ext.Value, &got); err != nil || len(rest) != 0 {
			return failed(probUnauthorized, "the acmeIdentifier extension is not an OCTET STRING")
		}
		if subtle.ConstantTimeCompare(got, sum[:]) != 1 {
			return failed(probIncorrectResponse, "the acmeIdentifier extension does not hold the key authorization digest")
		}
		return nil
	}
	return failed(probUnauthorized, "the certificate has no acmeIdentifier extension")
}

// reverseName is the in-addr.arpa / ip6.arpa name of an address.
func reverseName(a netip.Addr) string {
	b := a.AsSlice()
	var parts []string
	if a.Is4() {
		for i := len(b) - 1; i >= 0; i-- {
			parts = append(parts, strconv.Itoa(int(b[i])))
		}
		return strings.Join(parts, ".") + ".in-addr.arpa"
	}
	const hex = "0123456789abcdef"
	for i := len(b) - 1; i >= 0; i-- {
		parts = append(parts, string(hex[b[i]&0xf]), string(hex[b[i]>>4]))
	}
	return strings.Join(parts, ".") + ".ip6.arpa"
}

func connectionOrDNS(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) {
		return probDNS
	}
	return probConnection
}

// shortNetErr drops the wrapping that repeats the URL.
func shortNetErr(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.Error()
	}
	return err.Error()
}
