package ocsp

import (
	"errors"
	"net/http"

	"github.com/vcc/vccpki/ca/caerr"
)

// responseStatus is OCSPResponseStatus (RFC 6960 §4.2.1).
type responseStatus byte

const (
	successful       responseStatus = 0
	malformedRequest responseStatus = 1
	internalError    responseStatus = 2
	tryLater         responseStatus = 3
	unauthorized     responseStatus = 6
)

func (s responseStatus) String() string {
	switch s {
	case successful:
		return "successful"
	case malformedRequest:
		return "malformedRequest"
	case internalError:
		return "internalError"
	case tryLater:
		return "tryLater"
	case unauthorized:
		return "unauthorized"
	}
	return "unknown"
}

// body is the unsigned OCSPResponse carrying only this status:
// SEQUENCE { ENUMERATED status }.
func (s responseStatus) body() []byte { return []byte{0x30, 0x03, 0x0a, 0x01, byte(s)} }

var (
	// errUnauthorized: no CA of ours issued the certificate asked about
	// (or not all CertIDs name the same CA).
	errUnauthorized = caerr.New(caerr.Unauthorized, "this responder does not answer for that issuer")
	// errBusy: the live signature budget is spent.
	errBusy = caerr.New(caerr.RateLimited, "too many requests that need a fresh signature; try again later")
)

// statusFor is the one table from errors to OCSP response statuses.
// Every OCSP error goes out as HTTP 200 with this status in the body
// (RFC 6960 Appendix A.1), except the HTTP-level refusals of httpRefusal.
func statusFor(err error) responseStatus {
	if errors.Is(err, errMalformed) {
		return malformedRequest
	}
	switch caerr.KindOf(err) {
	case caerr.Malformed:
		return malformedRequest
	case caerr.Unauthorized, caerr.NotFound:
		return unauthorized
	case caerr.RateLimited, caerr.Unavailable:
		return tryLater
	}
	return internalError
}

// httpRefusal is a request refused before it reaches OCSP: an HTTP status
// (RFC 9110) with a malformedRequest body, so that OCSP clients, which
// look at the body, and HTTP clients, which look at the status, both
// understand.
type httpRefusal struct {
	code   int
	reason string
}

var (
	refuseContentType = httpRefusal{http.StatusUnsupportedMediaType, "POST needs Content-Type: application/ocsp-request (RFC 6960 A.1)"}
	refuseTooLarge    = httpRefusal{http.StatusRequestEntityTooLarge, "the request is larger than this responder accepts"}
	refuseURITooLong  = httpRefusal{http.StatusRequestURITooLong, "the GET request is longer than this responder accepts; use POST"}
)
