package acme

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/vcc/vccpki/store"
)

// maxRedirects is how many redirects http-01 follows, as Let's Encrypt.
const maxRedirects = 10

// hostAdmitter reports whether an order's profile admits a host name; the
// http-01 validator follows redirects only to such names (nil: none but
// the identifier itself).
type hostAdmitter func(host string) bool

// redirectRefused is why a redirect was not followed. Its message is
// ours alone: nothing of the answer that asked for the redirect.
type redirectRefused struct{ detail string }

func (e *redirectRefused) Error() string { return e.detail }

// redirectPolicy is the CheckRedirect of one http-01 validation of id:
// at most maxRedirects hops, to http or https, on the validation ports,
// to the identifier or a host name the order's profile admits. Otherwise
// a challenge could make the CA fetch internal services (metadata
// endpoints, admin pages) on the requester's behalf.
func (v *validator) redirectPolicy(id identifier, admits hostAdmitter) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return &redirectRefused{fmt.Sprintf("more than %d redirects", maxRedirects)}
		}
		u := req.URL
		if u.Scheme != "http" && u.Scheme != "https" {
			return &redirectRefused{fmt.Sprintf("redirect to a %q URL; only http and https are followed", u.Scheme)}
		}
		host := u.Hostname()
		port := v.cfg.HTTPPort
		if u.Scheme == "https" {
			port = v.cfg.TLSPort
		}
		if p := u.Port(); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || (n != v.cfg.HTTPPort && n != v.cfg.TLSPort) {
				return &redirectRefused{fmt.Sprintf("redirect to port %s; only %d and %d are followed", p, v.cfg.HTTPPort, v.cfg.TLSPort)}
			}
			port = n
		}
		if why := v.refusedHost(host, id, admits); why != "" {
			return &redirectRefused{fmt.Sprintf("redirect to %s refused: %s", host, why)}
		}
		// A URL without a port means the validation port of its scheme,
		// which tests move off 80 and 443; the Host header stays as sent.
		req.Host = u.Host
		u.Host = net.JoinHostPort(host, strconv.Itoa(port))
		return nil
	}
}

// refusedHost says why http-01 may not follow a redirect to host, or "".
func (v *validator) refusedHost(host string, id identifier, admits hostAdmitter) string {
	if ip, err := netip.ParseAddr(host); err == nil {
		if id.Type == "ip" && ip.Unmap() == netip.MustParseAddr(id.Value).Unmap() {
			return ""
		}
		return "only host names are followed, not IP addresses"
	}
	if id.Type == "dns" && strings.EqualFold(host, id.Value) {
		return ""
	}
	if admits == nil || strings.Contains(host, "*") || !admits(host) {
		return "the order's profile does not admit this name"
	}
	return ""
}

func bracketIPv6(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// fetchProblem turns an http-01 fetch error into a problem whose detail
// says what failed without repeating anything the server sent (Go's
// transport quotes a non-HTTP answer in its error).
func fetchProblem(url string, err error) *problem {
	var refused *redirectRefused
	var de *net.DNSError
	var oe *net.OpError
	switch {
	case errors.As(err, &refused):
		return failed(probConnection, "fetching %s: %s", url, refused.detail)
	case errors.As(err, &de):
		return failed(probDNS, "fetching %s: %v", url, de)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return failed(probConnection, "fetching %s: timed out", url)
	case errors.As(err, &oe) && oe.Err != nil:
		return failed(probConnection, "fetching %s: %s %v", url, oe.Op, oe.Err)
	}
	return failed(probConnection, "fetching %s: the server did not answer with valid HTTP", url)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// redirectHostsOf is the hostAdmitter of an order: the host names its
// profile admits (ca/profile's identifier check). The order is read on the
// first redirect, not before: most validations follow none.
func (s *Server) redirectHostsOf(ctx context.Context, orderID store.OrderID) hostAdmitter {
	load := sync.OnceValue(func() hostAdmitter {
		o, err := s.store.Order(ctx, orderID)
		if err != nil {
			s.log.Warn("acme: the order of a validation", "order", orderID, "err", err)
			return nil
		}
		var d orderData
		if err := json.Unmarshal(o.Data, &d); err != nil {
			return nil
		}
		p, ok := s.profiles.Get(d.Profile)
		if !ok {
			return nil
		}
		return func(host string) bool { return p.CheckDNSName(host) == nil }
	})
	return func(host string) bool {
		admits := load()
		return admits != nil && admits(host)
	}
}
