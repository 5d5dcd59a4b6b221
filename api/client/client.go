// Package client is a small client of the management API (/api/v1), used
// by the remote CLI (vccpki login, then vccpki certs list --server ...).
// Refusals come back as *Problem, the server's RFC 9457 document.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/vcc/vccpki/api"
	"github.com/vcc/vccpki/fleet"
)

// MaxResponse bounds a JSON answer read into memory (a page of 1000
// certificates fits easily); exports are streamed, not bounded.
const MaxResponse = 16 << 20

// Client calls one server's API.
type Client struct {
	// Base is the server's base URL (https://ca.example), without /api/v1.
	Base string
	// HTTP sends the requests (its TLS configuration trusts the server).
	HTTP *http.Client
	// Token returns the bearer token of a call; nil for unauthenticated
	// calls only (login-info).
	Token func(ctx context.Context) (string, error)
}

// Problem is a refusal of the API: its problem document and status.
type Problem struct {
	api.Problem
}

func (p *Problem) Error() string {
	d := p.Detail
	if d == "" {
		d = p.Title
	}
	return fmt.Sprintf("the server refused (%d %s): %s", p.Status, strings.TrimPrefix(p.Type, api.ProblemBase), d)
}

// ErrUnauthorized is wrapped by the Problem of a 401, so that callers can
// say "log in again".
var ErrUnauthorized = errors.New("unauthorized")

// Unwrap lets errors.Is(err, ErrUnauthorized) find a 401.
func (p *Problem) Unwrap() error {
	if p.Status == http.StatusUnauthorized {
		return ErrUnauthorized
	}
	return nil
}

// request sends one call and returns the response of a 2xx status; any
// other status is read as a problem document.
func (c *Client) request(ctx context.Context, method, path string, q url.Values, body any, auth bool) (*http.Response, error) {
	u := strings.TrimRight(c.Base, "/") + api.Prefix + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if auth {
		if c.Token == nil {
			return nil, errors.New("api client: no token source")
		}
		tok, err := c.Token(ctx)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	p := &Problem{}
	if json.Unmarshal(b, &p.Problem) != nil || p.Status == 0 {
		p.Problem = api.Problem{Status: resp.StatusCode, Title: resp.Status, Detail: strings.TrimSpace(string(b))}
		if !strings.Contains(resp.Header.Get("Content-Type"), "json") {
			p.Detail = fmt.Sprintf("%s %s answered %s, not a problem document: is %s the vccpki server?", method, u, resp.Status, c.Base)
		}
	}
	return nil, p
}

// call sends a call and decodes its JSON answer into out (when not nil).
func (c *Client) call(ctx context.Context, method, path string, q url.Values, body, out any, auth bool) error {
	resp, err := c.request(ctx, method, path, q, body, auth)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxResponse)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return nil
}

// LoginInfo asks which OpenID provider, client and audience to log in
// with (no authentication).
func (c *Client) LoginInfo(ctx context.Context) (*api.LoginInfo, error) {
	var li api.LoginInfo
	return &li, c.call(ctx, http.MethodGet, "/login-info", nil, nil, &li, false)
}

// walk calls fn for every item of a listing, page after page.
func walk[T any](ctx context.Context, c *Client, path string, q url.Values, fn func(T) error) error {
	q = cloneValues(q)
	for {
		var page api.Page[T]
		if err := c.call(ctx, http.MethodGet, path, q, nil, &page, true); err != nil {
			return err
		}
		for _, it := range page.Items {
			if err := fn(it); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		q.Set("cursor", page.Next)
	}
}

// Certificates walks the certificates the query selects, page after page
// (in the server's order: expiry, then serial), calling fn for each.
func (c *Client) Certificates(ctx context.Context, q url.Values, fn func(api.Certificate) error) error {
	return walk(ctx, c, "/certificates", q, fn)
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// Revoke revokes a certificate and returns its detail after.
func (c *Client) Revoke(ctx context.Context, serial, reason string) (*api.Certificate, error) {
	var out api.Certificate
	return &out, c.call(ctx, http.MethodPost, "/certificates/"+url.PathEscape(serial)+"/revoke", nil, api.RevokeRequest{Reason: reason}, &out, true)
}

// CreateEAB creates an ACME EAB key for a service; the answer is the only
// time its HMAC key is shown.
func (c *Client) CreateEAB(ctx context.Context, service string) (*api.NewEABKey, error) {
	var out api.NewEABKey
	return &out, c.call(ctx, http.MethodPost, "/credentials/eab", nil, map[string]string{"service": service}, &out, true)
}

// CreateESTUser creates EST Basic credentials; the answer is the only
// time the generated password is shown.
func (c *Client) CreateESTUser(ctx context.Context, service, user string) (*api.NewESTUser, error) {
	var out api.NewESTUser
	return &out, c.call(ctx, http.MethodPost, "/credentials/est-users", nil, map[string]string{"service": service, "user": user}, &out, true)
}

// RequestReissue asks for a service's reissue, which waits for a second
// administrator (dual control); the answer is the pending approval.
func (c *Client) RequestReissue(ctx context.Context, service, reason string) (*api.Approval, error) {
	var out api.Approval
	return &out, c.call(ctx, http.MethodPost, "/fleet/services/"+url.PathEscape(service)+"/reissue", nil, api.ReissueRequest{Reason: reason}, &out, true)
}

// RequestRevokeAll asks for the revocation of every certificate of an
// issuer (dual control); the answer is the pending approval.
func (c *Client) RequestRevokeAll(ctx context.Context, req api.RevokeAllRequest) (*api.Approval, error) {
	var out api.Approval
	return &out, c.call(ctx, http.MethodPost, "/certificates/revoke-all", nil, req, &out, true)
}

// VerifyAudit has the server walk the audit chain, from anchor ("" for
// none).
func (c *Client) VerifyAudit(ctx context.Context, anchor string) (*api.AuditVerification, error) {
	q := url.Values{}
	if anchor != "" {
		q.Set("anchor", anchor)
	}
	var out api.AuditVerification
	return &out, c.call(ctx, http.MethodGet, "/audit/verify", q, nil, &out, true)
}

// ExportAudit copies the audit entries the query selects (JSON Lines) to w.
func (c *Client) ExportAudit(ctx context.Context, q url.Values, w io.Writer) error {
	resp, err := c.request(ctx, http.MethodGet, "/audit/export", q, nil, true)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return err
}

// Discover runs a discovery of the fleet on the server and returns its
// report.
func (c *Client) Discover(ctx context.Context) (*fleet.Report, error) {
	var out fleet.Report
	return &out, c.call(ctx, http.MethodPost, "/fleet/discoveries", nil, nil, &out, true)
}

// Approvals walks the requests of dual control the query selects (status),
// page after page, calling fn for each.
func (c *Client) Approvals(ctx context.Context, q url.Values, fn func(api.Approval) error) error {
	return walk(ctx, c, "/approvals", q, fn)
}

// Approve approves a pending request of another administrator; the server
// executes it and answers with its outcome.
func (c *Client) Approve(ctx context.Context, id string) (*api.Approval, error) {
	var out api.Approval
	return &out, c.call(ctx, http.MethodPost, "/approvals/"+url.PathEscape(id), nil, nil, &out, true)
}

// Deny refuses a pending request (or withdraws one's own): it never runs.
func (c *Client) Deny(ctx context.Context, id string) (*api.Approval, error) {
	var out api.Approval
	return &out, c.call(ctx, http.MethodPost, "/approvals/"+url.PathEscape(id)+"/deny", nil, nil, &out, true)
}
