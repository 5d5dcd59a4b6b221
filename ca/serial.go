package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
)

// serialBytes is the length of generated serials: 128 random bits, of which
// 127 survive clearing the sign bit. RFC 5280 §4.1.2.2 allows up to 20
// octets; the CA/B Forum asks for at least 64 bits from a CSPRNG.
const serialBytes = 16

func newSerial() (*big.Int, error) {
	b := make([]byte, serialBytes)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	b[0] &= 0x7f // positive
	if b[0] == 0 {
		b[0] = 0x40 // keep the full length, so serials sort and print alike
	}
	return new(big.Int).SetBytes(b), nil
}

// FormatSerial is the canonical text form of a serial: lowercase hex of
// its big-endian bytes. The store keys certificates by it.
func FormatSerial(n *big.Int) string {
	return hex.EncodeToString(n.Bytes())
}

// serialSeparators are what openssl puts between a serial's bytes.
var serialSeparators = strings.NewReplacer(":", "", " ", "")

// ParseSerial is the one place a serial is read from text: command flags,
// protocol requests and the store's keys alike. It accepts hex with an
// optional "0x" prefix, colons or spaces, in either case, as operators
// copy serials from openssl output.
func ParseSerial(s string) (*big.Int, error) {
	clean := serialSeparators.Replace(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "0x"))
	n, ok := new(big.Int).SetString(clean, 16)
	if !ok || clean == "" || n.Sign() <= 0 || len(n.Bytes()) > 20 {
		return nil, fmt.Errorf("%q is not a certificate serial number (1 to 20 bytes of hex)", s)
	}
	return n, nil
}

// subjectKeyID follows RFC 5280 §4.2.1.2 method (1): SHA-1 of the
// subjectPublicKey BIT STRING.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	switch pub.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("unsupported public key %T", pub)
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	bits, err := spkiBits(spki)
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum(bits)
	return sum[:], nil
}

func spkiBits(spki []byte) ([]byte, error) {
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &info); err != nil {
		return nil, err
	}
	return info.PublicKey.Bytes, nil
}
