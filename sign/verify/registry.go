package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/vcc/vccpki/sign"
)

// Registry asks vccpki's management API whether a signature is in the
// signature registry (GET /api/v1/signatures?signature_digest=), for
// services that load only registered artifacts.
type Registry struct {
	URL    string       // the server's base URL, https://HOST:PORT
	Client *http.Client // carries the client certificate, if any, and the trusted root
	Token  string       // a bearer token; "" with a client certificate
}

// maxRegistryReply bounds the API's answer.
const maxRegistryReply = 1 << 20

// Check returns nil when the bundle's signature is registered for the
// digest it signs, a *Failure of kind NotRegistered when it is not, and
// another error when the registry cannot say.
func (r *Registry) Check(ctx context.Context, bundleJSON []byte) error {
	sum, err := sign.Summarize(bundleJSON)
	if err != nil {
		return fail(Malformed, err, "the registry keeps Sigstore bundles; this signature is not one")
	}
	sd := sign.SignatureDigest(sum.Signature)
	u := strings.TrimSuffix(r.URL, "/") + "/api/v1/signatures?signature_digest=" + url.QueryEscape(sd)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	c := r.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("signature registry: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRegistryReply))
	if err != nil {
		return fmt.Errorf("signature registry: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("signature registry answered %s: %.300s", resp.Status, body)
	}
	var page struct {
		Items []struct {
			ID     string `json:"id"`
			Digest string `json:"digest"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return fmt.Errorf("signature registry: %w", err)
	}
	want := fmt.Sprintf("%x", sum.Digest)
	for _, it := range page.Items {
		if it.Digest == want {
			return nil
		}
	}
	return fail(NotRegistered, nil, "the signature (sha256 %s) is not in the signature registry of %s", sd, r.URL)
}
