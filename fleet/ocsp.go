package fleet

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"

	"golang.org/x/crypto/ocsp"
)

// maxOCSPResponse bounds what is read from a responder.
const maxOCSPResponse = 64 << 10

// ocspStatus asks the responder named in the certificate's AIA (RFC 6960
// §4.1 request, POST as in appendix A.1) and returns "good", "revoked",
// "unknown", or why there is no answer. The response's signature is
// checked against the issuer (ParseResponseForCert accepts a delegated
// responder that issuer certified, §4.2.2.2).
func ocspStatus(ctx context.Context, hc *http.Client, leaf, issuer *x509.Certificate) string {
	if len(leaf.OCSPServer) == 0 {
		return OCSPNoURL
	}
	if issuer == nil {
		return OCSPUnavailable + ": the issuer certificate is not known"
	}
	req, err := ocsp.CreateRequest(leaf, issuer, nil)
	if err != nil {
		return OCSPUnavailable + ": " + err.Error()
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, leaf.OCSPServer[0], bytes.NewReader(req))
	if err != nil {
		return OCSPUnavailable + ": " + err.Error()
	}
	hreq.Header.Set("Content-Type", "application/ocsp-request")
	resp, err := hc.Do(hreq)
	if err != nil {
		return OCSPUnavailable + ": " + err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOCSPResponse))
	if err != nil {
		return OCSPUnavailable + ": " + err.Error()
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("%s: HTTP %d from %s", OCSPUnavailable, resp.StatusCode, leaf.OCSPServer[0])
	}
	r, err := ocsp.ParseResponseForCert(body, leaf, issuer)
	if err != nil {
		return OCSPUnavailable + ": " + err.Error()
	}
	switch r.Status {
	case ocsp.Good:
		return "good"
	case ocsp.Revoked:
		return "revoked"
	}
	return "unknown"
}
