package fleet

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/ca/profile"
)

// CA is what discovery needs of the engine: the trust anchor, the issuing
// CAs, the record and the revocation status of a serial, and the profile
// templates.
type CA interface {
	Root() *x509.Certificate
	CACert(name string) (*x509.Certificate, bool)
	Certificate(ctx context.Context, serial *big.Int) (*ca.CertificateInfo, error)
	StatusOf(ctx context.Context, issuer string, serial *big.Int) (ca.CertStatus, error)
	Profiles() *profile.Set
}

// Origin says where a presented certificate comes from.
const (
	OriginOurs       = "vccpki"
	OriginSelfSigned = "self-signed"
	OriginOtherCA    = "other CA"
	OriginNone       = "none"
)

// OCSP statuses reported besides RFC 6960's good, revoked and unknown.
const (
	OCSPUnavailable = "unavailable"
	OCSPNotChecked  = "not checked"
	// OCSPForeign: another CA issued it; its responder is not asked.
	OCSPForeign = "foreign: not issued by this CA, its OCSP responder is not asked"
)

// EndpointReport is what one endpoint presented and what it needs.
type EndpointReport struct {
	Address    string    `json:"address"`
	ServerName string    `json:"server_name,omitempty"`
	Reachable  bool      `json:"reachable"`
	Error      string    `json:"error,omitempty"`
	Origin     string    `json:"origin"`
	Subject    string    `json:"subject,omitempty"`
	Issuer     string    `json:"issuer,omitempty"`
	Serial     string    `json:"serial,omitempty"`
	Names      []string  `json:"names,omitempty"`
	NotBefore  time.Time `json:"not_before,omitzero"`
	NotAfter   time.Time `json:"not_after,omitzero"`
	DaysLeft   float64   `json:"days_left"`
	Profile    string    `json:"profile,omitempty"` // the profile we issued it from
	Revoked    bool      `json:"revoked"`           // the store says so (ours), or OCSP does
	NamesMatch bool      `json:"names_match"`
	NameIssue  string    `json:"name_issue,omitempty"`
	OCSP       string    `json:"ocsp"`
	RenewAfter time.Time `json:"renew_after,omitzero"` // the ARI window of its profile
	RenewBy    time.Time `json:"renew_by,omitzero"`
	Action     string    `json:"action,omitempty"` // empty: covered
}

// ServiceReport is one service: covered when every endpoint is.
type ServiceReport struct {
	Name      string           `json:"name"`
	Profile   string           `json:"profile"`
	Protocol  string           `json:"protocol"`
	Covered   bool             `json:"covered"`
	DaysLeft  float64          `json:"days_left"` // least over endpoints presenting a certificate; 0 if none
	Action    string           `json:"action,omitempty"`
	Endpoints []EndpointReport `json:"endpoints"`
}

// Report is one discovery over the whole registry.
type Report struct {
	Time       time.Time       `json:"time"`
	Took       time.Duration   `json:"took_ns"`
	Services   []ServiceReport `json:"services"`
	NotCovered int             `json:"not_covered"`
}

// Discoverer probes the registry's endpoints.
type Discoverer struct {
	Registry *Registry
	CA       CA
	// Timeout bounds one endpoint: dial, handshake and status lookup.
	Timeout time.Duration
	// Concurrency is how many endpoints are probed at once.
	Concurrency int
	Now         func() time.Time
}

// Run probes every endpoint (at most Concurrency at a time) and reports
// per service. It never fails: a problem is part of the report.
func (d *Discoverer) Run(ctx context.Context) *Report {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	start := now()
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	workers := d.Concurrency
	if workers <= 0 {
		workers = 8
	}
	rep := &Report{Time: start.UTC()}
	for _, s := range d.Registry.Services {
		rep.Services = append(rep.Services, ServiceReport{Name: s.Name, Profile: s.Profile, Protocol: s.Protocol,
			Endpoints: make([]EndpointReport, len(s.Endpoints))})
	}
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for i, s := range d.Registry.Services {
		for j, ep := range s.Endpoints {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				pctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				rep.Services[i].Endpoints[j] = d.endpoint(pctx, &d.Registry.Services[i], ep, now())
			}()
		}
	}
	wg.Wait()
	for i := range rep.Services {
		summarize(&rep.Services[i])
		if !rep.Services[i].Covered {
			rep.NotCovered++
		}
	}
	rep.Took = now().Sub(start)
	return rep
}

func summarize(s *ServiceReport) {
	s.Covered = true
	first := true
	for _, e := range s.Endpoints {
		if e.Action != "" {
			if s.Covered {
				s.Action = e.Address + ": " + e.Action
			}
			s.Covered = false
		}
		if e.Reachable && e.Origin != OriginNone && (first || e.DaysLeft < s.DaysLeft) {
			s.DaysLeft, first = e.DaysLeft, false
		}
	}
}

// endpoint probes one endpoint and classifies what it presents.
func (d *Discoverer) endpoint(ctx context.Context, s *Service, ep Endpoint, now time.Time) EndpointReport {
	r := EndpointReport{Address: ep.Address, ServerName: ep.ServerName(), Origin: OriginNone, OCSP: OCSPNotChecked}
	chain, err := Probe(ctx, ep)
	if err != nil {
		r.Error = err.Error()
		r.Action = "unreachable: check that the service runs and listens on " + ep.Address
		return r
	}
	r.Reachable = true
	leaf := chain[0]
	r.Subject, r.Issuer = leaf.Subject.String(), leaf.Issuer.String()
	r.Serial = ca.FormatSerial(leaf.SerialNumber)
	r.Names = certNames(leaf)
	r.NotBefore, r.NotAfter = leaf.NotBefore, leaf.NotAfter
	r.DaysLeft = leaf.NotAfter.Sub(now).Hours() / 24
	prof, _ := d.CA.Profiles().Get(s.Profile)
	r.NamesMatch, r.NameIssue = namesMatch(leaf, prof, r.ServerName, ep.Address)

	// Only a certificate byte-for-byte in our store is ours; its status
	// comes from our responder's source, never from a URL it carries.
	info, err := d.CA.Certificate(ctx, leaf.SerialNumber)
	switch {
	case err == nil && bytes.Equal(info.Certificate.Raw, leaf.Raw):
		r.Origin, r.Profile, r.Revoked = OriginOurs, info.Profile, !info.RevokedAt.IsZero()
		r.OCSP = ourStatus(ctx, d.CA, info.Issuer, leaf.SerialNumber)
		r.Revoked = r.Revoked || r.OCSP == "revoked"
	case err != nil && caerr.KindOf(err) != caerr.NotFound:
		r.Origin = OriginOtherCA
		r.Error = "looking the serial up: " + err.Error()
	case bytes.Equal(leaf.RawIssuer, leaf.RawSubject) && leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) == nil:
		r.Origin = OriginSelfSigned
	default:
		r.Origin, r.OCSP = OriginOtherCA, OCSPForeign
	}
	if r.Origin == OriginOurs && prof != nil {
		r.RenewAfter, r.RenewBy = prof.RenewalWindow(leaf.NotBefore, leaf.NotAfter)
	}
	r.Action = action(s, &r, now)
	return r
}

// action decides what the operator (or the service's client) must do; ""
// means the endpoint is covered.
func action(s *Service, r *EndpointReport, now time.Time) string {
	switch {
	case r.Origin == OriginSelfSigned:
		return "enrol: self-signed; run vccpki enrol " + s.Name
	case r.Origin == OriginOtherCA:
		return "enrol: issued by another CA (" + r.Issuer + "); run vccpki enrol " + s.Name
	case !now.Before(r.NotAfter):
		return "renew now: expired; check the client's renewal timer"
	case r.Revoked:
		return "renew now: revoked; the client renews at its next timer run (ARI or OCSP says so)"
	case r.Profile != s.Profile:
		return fmt.Sprintf("re-enrol: issued from profile %s, the registry says %s; run vccpki enrol %s", r.Profile, s.Profile, s.Name)
	case !r.NamesMatch:
		return "re-enrol: " + r.NameIssue
	case !r.RenewBy.IsZero() && now.After(r.RenewBy):
		return "renewal overdue: the renewal window closed at " + r.RenewBy.UTC().Format(time.RFC3339) + "; check the client's timer"
	}
	return ""
}

// Probe makes a TLS handshake with ep and returns the certificates the
// server presented, leaf first. Nothing is verified: discovery wants to
// see whatever is there.
func Probe(ctx context.Context, ep Endpoint) ([]*x509.Certificate, error) {
	d := tls.Dialer{Config: &tls.Config{ServerName: ep.ServerName(), InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}} //nolint:gosec // we report what is presented, we do not trust it
	conn, err := d.DialContext(ctx, "tcp", ep.Address)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s presented no certificate", ep.Address)
	}
	return certs, nil
}

func certNames(c *x509.Certificate) []string {
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

// namesMatch checks that the certificate is valid for the name clients use
// (RFC 6125) and that every name in it is one the profile allows.
func namesMatch(c *x509.Certificate, p *profile.Profile, serverName, address string) (bool, string) {
	want := serverName
	if want == "" {
		want, _, _ = net.SplitHostPort(address)
	}
	if err := c.VerifyHostname(want); err != nil {
		return false, fmt.Sprintf("the certificate does not cover %s (it names %v)", want, certNames(c))
	}
	if p == nil {
		return false, "the registry names a profile that does not exist"
	}
	for _, n := range c.DNSNames {
		if err := p.CheckDNSName(n); err != nil {
			return false, err.Error()
		}
	}
	for _, ip := range c.IPAddresses {
		a, _ := netip.AddrFromSlice(ip)
		if err := p.CheckIP(a.Unmap()); err != nil {
			return false, err.Error()
		}
	}
	return true, ""
}
