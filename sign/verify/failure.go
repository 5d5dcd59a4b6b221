package verify

import (
	"errors"
	"fmt"
)

// Kind is why a verification failed. Each has its own exit status for
// `vccpki verify` (README: "Verifying signatures").
type Kind int

// The failures, with their exit statuses.
const (
	Malformed         Kind = 3  // the signature file cannot be read as a bundle or CMS
	BadSignature      Kind = 10 // the signature does not verify with the signer's key
	UntrustedChain    Kind = 11 // the signer's chain does not reach the given root
	NotCodeSigning    Kind = 12 // the signer certificate lacks EKU codeSigning
	IdentityMismatch  Kind = 13 // neither the subject CN nor a URI SAN matches --identity
	NoTimestamp       Kind = 14 // no RFC 3161 time-stamp
	BadTimestamp      Kind = 15 // the time-stamp is invalid or from a TSA outside this PKI
	OutsideValidity   Kind = 16 // the time-stamp lies outside the signer's validity
	Revoked           Kind = 17 // revoked before the time-stamp, or for keyCompromise
	RevocationUnknown Kind = 18 // neither OCSP nor the CRL could say
	ContentChanged    Kind = 20 // a file's digest differs from the signed one
	FileAdded         Kind = 21 // a file is present that was not signed
	FileRemoved       Kind = 22 // a signed file is missing
	NotRegistered     Kind = 23 // not in the signature registry (verify --registry)
)

var kindNames = map[Kind]string{
	Malformed: "malformed", BadSignature: "bad_signature", UntrustedChain: "untrusted_chain",
	NotCodeSigning: "not_code_signing", IdentityMismatch: "identity_mismatch", NoTimestamp: "no_timestamp",
	BadTimestamp: "bad_timestamp", OutsideValidity: "outside_validity", Revoked: "revoked",
	RevocationUnknown: "revocation_unknown", ContentChanged: "content_changed", FileAdded: "file_added",
	FileRemoved: "file_removed", NotRegistered: "not_registered",
}

// Kinds lists every failure kind, in exit-status order.
var Kinds = []Kind{Malformed, BadSignature, UntrustedChain, NotCodeSigning, IdentityMismatch, NoTimestamp,
	BadTimestamp, OutsideValidity, Revoked, RevocationUnknown, ContentChanged, FileAdded, FileRemoved, NotRegistered}

// String is the kind's metric label and short name.
func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// ExitCode is the exit status of `vccpki verify` for this failure.
func (k Kind) ExitCode() int { return int(k) }

// Failure is a refused verification.
type Failure struct {
	Kind Kind
	Msg  string
	Err  error // the underlying error, if any
}

func (f *Failure) Error() string {
	if f.Err != nil {
		return f.Msg + ": " + f.Err.Error()
	}
	return f.Msg
}

func (f *Failure) Unwrap() error { return f.Err }

func fail(k Kind, err error, format string, args ...any) *Failure {
	return &Failure{Kind: k, Msg: fmt.Sprintf(format, args...), Err: err}
}

// KindOf returns the kind of a verification error, and false for an
// error that is not a Failure (reading a file, say).
func KindOf(err error) (Kind, bool) {
	var f *Failure
	if errors.As(err, &f) {
		return f.Kind, true
	}
	return 0, false
}
