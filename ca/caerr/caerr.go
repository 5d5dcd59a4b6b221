// Package caerr is the one error vocabulary of vccpki. The engine and the
// store boundary return *Error values of a Kind; each front end maps kinds to
// its protocol's own errors (ACME problem types, EST HTTP statuses, OCSP
// response statuses, TSA PKIFailureInfo) in exactly one table. Any other
// error is internal, and its text never reaches a client.
package caerr

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error. A Kind is itself an error so that callers can
// write errors.Is(err, caerr.BadCSR).
type Kind int

const (
	Internal            Kind = iota // not to be shown to clients
	Malformed                       // the request does not parse
	BadCSR                          // the CSR parses but is not acceptable
	BadPublicKey                    // key type or size outside the profile
	RejectedIdentifier              // a name or address outside the profile or not validated
	UnknownProfile                  // no such profile template
	Unauthorized                    // the caller may not do this (e.g. protocol not open)
	NotFound                        // no such certificate or CA
	Conflict                        // state does not allow it (e.g. already revoked)
	BadRevocationReason             // RFC 5280 reason not acceptable
	LintFailed                      // the certificate failed pre-issuance linting
	RateLimited                     // too many requests
	Unavailable                     // try again later
)

var kindNames = [...]string{
	Internal:            "internal error",
	Malformed:           "malformed request",
	BadCSR:              "bad CSR",
	BadPublicKey:        "bad public key",
	RejectedIdentifier:  "rejected identifier",
	UnknownProfile:      "unknown profile",
	Unauthorized:        "unauthorized",
	NotFound:            "not found",
	Conflict:            "conflict",
	BadRevocationReason: "bad revocation reason",
	LintFailed:          "lint failed",
	RateLimited:         "rate limited",
	Unavailable:         "unavailable",
}

func (k Kind) Error() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind %d", int(k))
}

// Error is a classified error with a message a person can act on.
type Error struct {
	Kind       Kind
	Detail     string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Detail }

// Is makes errors.Is(err, kind) true for an *Error of that kind.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind
}

// New returns an *Error of kind k with a formatted detail.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Detail: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of err, Internal for unclassified errors.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	var k Kind
	if errors.As(err, &k) {
		return k
	}
	return Internal
}

// Detail returns the message that may be shown to a client: the detail of
// a classified error, or a generic text for internal ones.
func Detail(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Kind != Internal {
		return e.Detail
	}
	return "internal error"
}
