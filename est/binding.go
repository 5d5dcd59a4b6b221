package est

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// oidChallengePassword is PKCS#9 challengePassword (RFC 2985 §5.4.1).
var oidChallengePassword = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 7}

// exporterLabel is the RFC 9266 §2 label of the tls-exporter channel
// binding, with an empty context and 32 bytes of output.
const exporterLabel = "EXPORTER-Channel-Binding"

// channelBinding returns the channel binding of a TLS session: tls-unique
// (RFC 5929 §3) on TLS 1.2, as RFC 7030 §3.5 specifies, and tls-exporter
// (RFC 9266) on TLS 1.3, where tls-unique is not defined (RFC 8446
// §C.5).
func channelBinding(cs *tls.ConnectionState) (string, []byte, error) {
	if cs.Version >= tls.VersionTLS13 {
		b, err := cs.ExportKeyingMaterial(exporterLabel, nil, 32)
		return "tls-exporter", b, err
	}
	if len(cs.TLSUnique) == 0 {
		return "tls-unique", nil, errors.New("this TLS session has no tls-unique value")
	}
	return "tls-unique", cs.TLSUnique, nil
}

// checkBinding enforces RFC 7030 §3.5: the CSR's challengePassword must
// be the base64 of this TLS session's channel binding, which proves that
// the CSR was made for this session and not replayed from another.
func checkBinding(cs *tls.ConnectionState, csr *x509.CertificateRequest) error {
	kind, want, err := channelBinding(cs)
	if err != nil {
		return &Error{Status: http.StatusForbidden, Message: "channel binding is required but unavailable on this connection: " + err.Error()}
	}
	got, found, err := ChallengePassword(csr.RawTBSCertificateRequest)
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Message: "the CSR's attributes do not parse: " + err.Error()}
	}
	if !found {
		return &Error{Status: http.StatusForbidden, Message: fmt.Sprintf(
			"this profile requires channel binding (RFC 7030 §3.5): put the base64 %s value of this TLS connection in the CSR's challengePassword", kind)}
	}
	// Clients differ on trailing line breaks (globalsign's adds CRLF).
	got = strings.TrimSpace(got)
	if subtle.ConstantTimeCompare([]byte(got), []byte(base64.StdEncoding.EncodeToString(want))) != 1 {
		return &Error{Status: http.StatusForbidden, Message: fmt.Sprintf(
			"the CSR's challengePassword is not the %s value of this TLS connection: the request was made for another session", kind)}
	}
	return nil
}

// ChallengePassword returns the challengePassword attribute of a
// CertificationRequestInfo (RFC 2986 §4.1), if there is one. Go's x509
// parser keeps only the extensionRequest attribute, so this reads the
// attributes itself. It is exported for the fuzz target.
func ChallengePassword(tbs []byte) (string, bool, error) {
	in := cryptobyte.String(tbs)
	var info, attrs cryptobyte.String
	if !in.ReadASN1(&info, cbasn1.SEQUENCE) || !in.Empty() {
		return "", false, errors.New("not a CertificationRequestInfo")
	}
	var version int64
	if !info.ReadASN1Integer(&version) || !info.SkipASN1(cbasn1.SEQUENCE) || !info.SkipASN1(cbasn1.SEQUENCE) {
		return "", false, errors.New("bad version, subject or public key")
	}
	if info.Empty() {
		return "", false, nil // attributes are required, but some encoders drop an empty set
	}
	if !info.ReadASN1(&attrs, cbasn1.Tag(0).ContextSpecific().Constructed()) || !info.Empty() {
		return "", false, errors.New("bad attributes")
	}
	var value string
	found := false
	for !attrs.Empty() {
		var attr, values cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !attrs.ReadASN1(&attr, cbasn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&oid) ||
			!attr.ReadASN1(&values, cbasn1.SET) || !attr.Empty() {
			return "", false, errors.New("bad attribute")
		}
		if !oid.Equal(oidChallengePassword) {
			continue
		}
		if found {
			return "", false, errors.New("challengePassword appears twice")
		}
		// challengePassword ::= DirectoryString, SINGLE VALUE (RFC 2985).
		var tag cbasn1.Tag
		var s cryptobyte.String
		if !values.ReadAnyASN1(&s, &tag) || !values.Empty() {
			return "", false, errors.New("challengePassword must have one value")
		}
		switch tag {
		case cbasn1.UTF8String, cbasn1.PrintableString, cbasn1.IA5String, cbasn1.T61String:
		default:
			return "", false, fmt.Errorf("challengePassword has ASN.1 tag %d, not a string", tag)
		}
		value, found = string(s), true
	}
	return value, found, nil
}
