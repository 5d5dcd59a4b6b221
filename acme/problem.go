package acme

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/vcc/vccpki/ca/caerr"
)

// Problem types: RFC 8555 §6.7, RFC 9773 §7.4 (alreadyReplaced) and the
// ACME profiles draft (invalidProfile).
const (
	errNS                     = "urn:ietf:params:acme:error:"
	probAccountDoesNotExist   = errNS + "accountDoesNotExist"
	probAlreadyRevoked        = errNS + "alreadyRevoked"
	probAlreadyReplaced       = errNS + "alreadyReplaced"
	probBadCSR                = errNS + "badCSR"
	probBadNonce              = errNS + "badNonce"
	probBadPublicKey          = errNS + "badPublicKey"
	probBadRevocationReason   = errNS + "badRevocationReason"
	probBadSignatureAlg       = errNS + "badSignatureAlgorithm"
	probCAA                   = errNS + "caa"
	probConnection            = errNS + "connection"
	probDNS                   = errNS + "dns"
	probExternalAccountReq    = errNS + "externalAccountRequired"
	probIncorrectResponse     = errNS + "incorrectResponse"
	probInvalidContact        = errNS + "invalidContact"
	probInvalidProfile        = errNS + "invalidProfile"
	probMalformed             = errNS + "malformed"
	probOrderNotReady         = errNS + "orderNotReady"
	probRateLimited           = errNS + "rateLimited"
	probRejectedIdentifier    = errNS + "rejectedIdentifier"
	probServerInternal        = errNS + "serverInternal"
	probTLS                   = errNS + "tls"
	probUnauthorized          = errNS + "unauthorized"
	probUnsupportedContact    = errNS + "unsupportedContact"
	probUnsupportedIdentifier = errNS + "unsupportedIdentifier"
)

// problem is an RFC 7807 problem document as ACME uses it (RFC 8555 §6.7).
type problem struct {
	Type        string        `json:"type"`
	Detail      string        `json:"detail,omitempty"`
	Status      int           `json:"status,omitempty"`
	Identifier  *identifier   `json:"identifier,omitempty"`
	Subproblems []problem     `json:"subproblems,omitempty"`
	Algorithms  []string      `json:"algorithms,omitempty"` // badSignatureAlgorithm (RFC 8555 §6.2)
	retryAfter  time.Duration // sent as Retry-After
	location    string        // sent as Location (keyChange conflict, RFC 8555 §7.3.5)
}

func (p *problem) Error() string { return p.Type + ": " + p.Detail }

func newProblem(typ string, status int, format string, args ...any) *problem {
	return &problem{Type: typ, Status: status, Detail: fmt.Sprintf(format, args...)}
}

func malformed(format string, args ...any) *problem {
	return newProblem(probMalformed, http.StatusBadRequest, format, args...)
}

func unauthorized(format string, args ...any) *problem {
	return newProblem(probUnauthorized, http.StatusForbidden, format, args...)
}

func notFound(what string) *problem {
	return newProblem(probMalformed, http.StatusNotFound, "%s does not exist", what)
}

// kindProblems is the one mapping from the engine's error kinds to ACME
// problem types and HTTP statuses.
var kindProblems = map[caerr.Kind]struct {
	typ    string
	status int
}{
	caerr.Internal:            {probServerInternal, http.StatusInternalServerError},
	caerr.Malformed:           {probMalformed, http.StatusBadRequest},
	caerr.BadCSR:              {probBadCSR, http.StatusBadRequest},
	caerr.BadPublicKey:        {probBadPublicKey, http.StatusBadRequest},
	caerr.RejectedIdentifier:  {probRejectedIdentifier, http.StatusBadRequest},
	caerr.UnknownProfile:      {probInvalidProfile, http.StatusBadRequest},
	caerr.Unauthorized:        {probUnauthorized, http.StatusForbidden},
	caerr.NotFound:            {probMalformed, http.StatusNotFound},
	caerr.Conflict:            {probAlreadyRevoked, http.StatusBadRequest}, // the engine's only conflict a client can cause
	caerr.BadRevocationReason: {probBadRevocationReason, http.StatusBadRequest},
	caerr.LintFailed:          {probBadCSR, http.StatusBadRequest}, // the requested names make a certificate lint refuses
	caerr.RateLimited:         {probRateLimited, http.StatusTooManyRequests},
	caerr.Unavailable:         {probServerInternal, http.StatusServiceUnavailable},
}

// toProblem turns any error into a problem. Unclassified errors become
// serverInternal with a generic detail: their text never reaches a client.
func toProblem(err error) *problem {
	var p *problem
	if errors.As(err, &p) {
		return p
	}
	m, ok := kindProblems[caerr.KindOf(err)]
	if !ok {
		m = kindProblems[caerr.Internal]
	}
	p = &problem{Type: m.typ, Status: m.status, Detail: caerr.Detail(err)}
	var ce *caerr.Error
	if errors.As(err, &ce) {
		p.retryAfter = ce.RetryAfter
	}
	return p
}

func writeProblem(w http.ResponseWriter, p *problem) {
	if p.Status == 0 {
		p.Status = http.StatusBadRequest
	}
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((p.retryAfter+time.Second-1)/time.Second)))
	}
	if p.location != "" {
		w.Header().Set("Location", p.location)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
