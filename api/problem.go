package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/vcc/vccpki/ca/caerr"
)

// ProblemBase is the prefix of every problem type of the API (RFC 9457
// §3.1.1): ProblemBase + a name below.
const ProblemBase = "https://vccpki.dev/problems/"

// Problem type names. Each is documented in api/openapi.json.
const (
	ProbUnauthorized     = "unauthorized"       // 401: no or bad credentials
	ProbForbidden        = "forbidden"          // 403: the caller's roles do not grant the permission
	ProbNotFound         = "not-found"          // 404
	ProbMethodNotAllowed = "method-not-allowed" // 405, also a CORS preflight
	ProbMalformed        = "malformed"          // 400: the request does not parse
	ProbBadCursor        = "bad-cursor"         // 400
	ProbBadSerial        = "bad-serial"         // 400
	ProbBadReason        = "bad-reason"         // 400
	ProbBadCSR           = "bad-csr"            // 400
	ProbUnknownProfile   = "unknown-profile"    // 400
	ProbRejected         = "rejected"           // 400: outside the profile
	ProbTooLarge         = "too-large"          // 413
	ProbConflict         = "conflict"           // 409
	ProbExpired          = "expired"            // 410: an approval whose time ran out
	ProbRateLimited      = "rate-limited"       // 429
	ProbUnavailable      = "unavailable"        // 503
	ProbInternal         = "internal"           // 500
)

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// apiError is a refusal a handler returns; serve writes it as a problem.
type apiError struct {
	status     int
	name       string
	detail     string
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.detail }

func problem(status int, name, detail string) *apiError {
	return &apiError{status: status, name: name, detail: detail}
}

// fromError maps an error of the engine or the store to a problem; an
// unclassified error is internal and its text is not shown.
func fromError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var ce *caerr.Error
	if !errors.As(err, &ce) {
		return problem(http.StatusInternalServerError, ProbInternal, "internal error; the server log has the cause")
	}
	switch ce.Kind {
	case caerr.Malformed:
		return problem(http.StatusBadRequest, ProbMalformed, ce.Detail)
	case caerr.BadCSR, caerr.BadPublicKey:
		return problem(http.StatusBadRequest, ProbBadCSR, ce.Detail)
	case caerr.RejectedIdentifier, caerr.LintFailed, caerr.Unauthorized:
		return problem(http.StatusBadRequest, ProbRejected, ce.Detail)
	case caerr.UnknownProfile:
		return problem(http.StatusBadRequest, ProbUnknownProfile, ce.Detail)
	case caerr.NotFound:
		return problem(http.StatusNotFound, ProbNotFound, ce.Detail)
	case caerr.Conflict:
		return problem(http.StatusConflict, ProbConflict, ce.Detail)
	case caerr.BadRevocationReason:
		return problem(http.StatusBadRequest, ProbBadReason, ce.Detail)
	case caerr.RateLimited:
		return &apiError{status: http.StatusTooManyRequests, name: ProbRateLimited, detail: ce.Detail, retryAfter: ce.RetryAfter}
	case caerr.Unavailable:
		return &apiError{status: http.StatusServiceUnavailable, name: ProbUnavailable, detail: ce.Detail, retryAfter: ce.RetryAfter}
	}
	return problem(http.StatusInternalServerError, ProbInternal, "internal error; the server log has the cause")
}

// writeProblem writes e as application/problem+json. A 401 carries the
// RFC 6750 §3 challenge.
func writeProblem(w http.ResponseWriter, r *http.Request, e *apiError) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	switch e.status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="vccpki", error="invalid_token"`)
		if e.detail == noCredentials {
			h.Set("WWW-Authenticate", `Bearer realm="vccpki"`) // RFC 6750 §3.1: no error code without credentials
		}
	case http.StatusForbidden:
		h.Set("WWW-Authenticate", `Bearer realm="vccpki", error="insufficient_scope"`)
	}
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((e.retryAfter+time.Second-1)/time.Second)))
	}
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(Problem{Type: ProblemBase + e.name, Title: http.StatusText(e.status), Status: e.status,
		Detail: e.detail, Instance: r.URL.Path})
}

const noCredentials = "this API needs a bearer token (OIDC) or a client certificate of the VCC Admin CA"
