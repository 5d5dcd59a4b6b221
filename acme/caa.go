package acme

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/miekg/dns"
)

// CAA (RFC 8659) lets the holder of a DNS name say which CAs may issue
// for it. The check runs after a challenge for a DNS identifier succeeded
// and before the authorization becomes valid, and only when the server
// knows its own CAA identities (acme.caa_identities): a CA that cannot
// name itself cannot find itself in a record. The account and method
// bindings of RFC 8657 are honoured.

// caaRequest is what one CAA check needs to know about the request.
type caaRequest struct {
	name       string // the identifier, without "*."
	wildcard   bool
	accountURL string // as the client knows it (RFC 8657 §3)
	method     string // the challenge type that validated (RFC 8657 §4)
}

// maxCAALabels bounds the climb: a DNS name has at most 127 labels.
const maxCAALabels = 127

// checkCAA finds the relevant record set (RFC 8659 §3: the first
// non-empty CAA RRset climbing from the name towards the root) and
// applies it. A lookup that fails is not permission: the check fails with
// the dns problem, and the client may retry.
func (v *validator) checkCAA(ctx context.Context, identities []string, r caaRequest) *problem {
	if len(identities) == 0 {
		return nil
	}
	name := strings.TrimSuffix(strings.ToLower(r.name), ".")
	for range maxCAALabels {
		rrs, err := v.lookupCAA(ctx, name)
		if err != nil {
			return failed(probDNS, "looking up CAA records of %s: %v", name, err)
		}
		if len(rrs) > 0 {
			if why := caaForbids(rrs, identities, r); why != "" {
				return failed(probCAA, "the CAA records of %s forbid this CA (%s) to issue for %s: %s", name, strings.Join(identities, ", "), r.name, why)
			}
			return nil
		}
		dot := strings.IndexByte(name, '.')
		if dot < 0 {
			return nil // no CAA record up to the top: no restriction
		}
		name = name[dot+1:]
	}
	return nil
}

// caaForbids applies a relevant RRset (RFC 8659 §4) and says why it
// forbids issuance, or "" when it permits it.
func caaForbids(rrs []*dns.CAA, identities []string, r caaRequest) string {
	var issue, issuewild []*dns.CAA
	for _, rr := range rrs {
		switch strings.ToLower(rr.Tag) {
		case "issue":
			issue = append(issue, rr)
		case "issuewild":
			issuewild = append(issuewild, rr)
		case "iodef", "issuemail", "issuevmc", "contactemail", "contactphone":
		default:
			// §4.1: an unknown property with the critical flag forbids.
			if rr.Flag&128 != 0 {
				return fmt.Sprintf("unknown critical property %q", rr.Tag)
			}
		}
	}
	// §4.3: issuewild, when present, decides for wildcards.
	set := issue
	if r.wildcard && len(issuewild) > 0 {
		set = issuewild
	}
	if len(set) == 0 {
		return "" // §4.2: no issue property restricts nothing
	}
	var why []string
	for _, rr := range set {
		domain, params := parseCAAValue(rr.Value)
		switch {
		case domain == "":
			why = append(why, fmt.Sprintf("%s %q lets no CA issue", rr.Tag, rr.Value))
		case !containsFold(identities, domain):
			why = append(why, fmt.Sprintf("%s %q names another CA", rr.Tag, rr.Value))
		case params["accounturi"] != "" && !sameAccount(params["accounturi"], r.accountURL):
			why = append(why, fmt.Sprintf("%s %q binds another account", rr.Tag, rr.Value))
		case params["validationmethods"] != "" && !containsFold(strings.Split(params["validationmethods"], ","), r.method):
			why = append(why, fmt.Sprintf("%s %q does not allow %s", rr.Tag, rr.Value, r.method))
		default:
			return ""
		}
	}
	return strings.Join(why, "; ")
}

// parseCAAValue splits an issue value (RFC 8659 §4.2: issuer-domain-name
// then ";"-separated tag=value parameters). Parameters this CA does not
// know are ignored, as §4.2 requires.
func parseCAAValue(v string) (string, map[string]string) {
	domain, rest, _ := strings.Cut(v, ";")
	params := map[string]string{}
	for _, p := range strings.Split(rest, ";") {
		if tag, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok {
			params[strings.ToLower(strings.TrimSpace(tag))] = strings.TrimSpace(val)
		}
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), ".")), params
}

// sameAccount compares account URLs by path: the server answers under
// whatever host the client used, so the host part may differ.
func sameAccount(recorded, actual string) bool {
	a, err1 := url.Parse(recorded)
	b, err2 := url.Parse(actual)
	return err1 == nil && err2 == nil && a.Path != "" && a.Path == b.Path
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(strings.TrimSpace(v), s) {
			return true
		}
	}
	return false
}

// lookupCAA asks the validator's DNS server (or the system's) for the CAA
// records at name. NXDOMAIN is an empty set; a failure of the server is
// an error.
func (v *validator) lookupCAA(ctx context.Context, name string) ([]*dns.CAA, error) {
	servers := v.dnsServers()
	if len(servers) == 0 {
		return nil, errors.New("no DNS server configured (va.dns) and none in /etc/resolv.conf")
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeCAA)
	m.RecursionDesired = true
	var lastErr error
	for _, srv := range servers {
		resp, err := v.exchange(ctx, m, srv)
		if err != nil {
			lastErr = err
			continue
		}
		switch resp.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
		default:
			lastErr = fmt.Errorf("%s answered %s", srv, dns.RcodeToString[resp.Rcode])
			continue
		}
		var out []*dns.CAA
		for _, rr := range resp.Answer {
			if caa, ok := rr.(*dns.CAA); ok {
				out = append(out, caa)
			}
		}
		return out, nil
	}
	return nil, lastErr
}

// exchange sends m over UDP and again over TCP when the answer was
// truncated.
func (v *validator) exchange(ctx context.Context, m *dns.Msg, srv string) (*dns.Msg, error) {
	c := &dns.Client{Net: "udp", Timeout: v.cfg.Timeout}
	resp, _, err := c.ExchangeContext(ctx, m, srv)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, m, srv)
	}
	return resp, err
}

func (v *validator) dnsServers() []string {
	if v.cfg.DNS != "" {
		return []string{v.cfg.DNS}
	}
	conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range conf.Servers {
		out = append(out, net.JoinHostPort(s, conf.Port))
	}
	return out
}
