package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/vcc/vccpki/api"
)

// CAs walks the CA hierarchy (q: role), calling fn for each.
func (c *Client) CAs(ctx context.Context, q url.Values, fn func(api.CA) error) error {
	return walk(ctx, c, "/cas", q, fn)
}

// CA returns one CA's detail: certificate, chain and key generations.
func (c *Client) CA(ctx context.Context, name string) (*api.CA, error) {
	var out api.CA
	return &out, c.call(ctx, http.MethodGet, "/cas/"+url.PathEscape(name), nil, nil, &out, true)
}

// RequestCACreate asks for a new issuing CA (dual control); the answer
// is the pending approval.
func (c *Client) RequestCACreate(ctx context.Context, req api.CreateCARequest) (*api.Approval, error) {
	var out api.Approval
	return &out, c.call(ctx, http.MethodPost, "/cas", nil, req, &out, true)
}

// RequestCARevoke asks for an issuing CA's revocation (dual control).
func (c *Client) RequestCARevoke(ctx context.Context, name string, req api.CARevokeRequest) (*api.Approval, error) {
	var out api.Approval
	return &out, c.call(ctx, http.MethodPost, "/cas/"+url.PathEscape(name)+"/revoke", nil, req, &out, true)
}

// RequestCARollover asks for an issuing CA's rollover (dual control).
func (c *Client) RequestCARollover(ctx context.Context, name string, req api.CARolloverRequest) (*api.Approval, error) {
	var out api.Approval
	return &out, c.call(ctx, http.MethodPost, "/cas/"+url.PathEscape(name)+"/rollover", nil, req, &out, true)
}

// Organisations walks the organisations the caller sees.
func (c *Client) Organisations(ctx context.Context, fn func(api.Organisation) error) error {
	return walk(ctx, c, "/organisations", url.Values{"limit": {"1000"}}, fn)
}

// Organisation returns one organisation.
func (c *Client) Organisation(ctx context.Context, name string) (*api.Organisation, error) {
	var out api.Organisation
	return &out, c.call(ctx, http.MethodGet, "/organisations/"+url.PathEscape(name), nil, nil, &out, true)
}

// CreateOrganisation creates an organisation.
func (c *Client) CreateOrganisation(ctx context.Context, name, display string) (*api.Organisation, error) {
	var out api.Organisation
	return &out, c.call(ctx, http.MethodPost, "/organisations", nil, api.CreateOrganisationRequest{Name: name, Display: display}, &out, true)
}

// AddOrganisationCA gives an organisation an issuing CA; the answer is
// the organisation after.
func (c *Client) AddOrganisationCA(ctx context.Context, org, ca string) (*api.Organisation, error) {
	var out api.Organisation
	return &out, c.call(ctx, http.MethodPost, "/organisations/"+url.PathEscape(org)+"/cas", nil, api.AddOrganisationCARequest{CA: ca}, &out, true)
}
