// Package keys holds vccpki's signing keys. Every key is used through
// crypto.Signer, so that a PKCS#11 token can stand where the software key
// store stands today. Software keys are sealed with AES-256-GCM under a
// key-encryption key derived from a passphrase with argon2id; no private key
// is ever written in plain form.
package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"
)

// Type names a key algorithm and size as written in configuration.
type Type string

// The key types vccpki can generate for its own hierarchy.
const (
	ECDSAP256 Type = "ecdsa-p256"
	ECDSAP384 Type = "ecdsa-p384"
	RSA2048   Type = "rsa-2048"
	RSA3072   Type = "rsa-3072"
	RSA4096   Type = "rsa-4096"
	Ed25519   Type = "ed25519"
)

var allTypes = []Type{ECDSAP256, ECDSAP384, RSA2048, RSA3072, RSA4096, Ed25519}

// ParseType checks a configured key type name.
func ParseType(s string) (Type, error) {
	for _, t := range allTypes {
		if string(t) == s {
			return t, nil
		}
	}
	names := make([]string, len(allTypes))
	for i, t := range allTypes {
		names[i] = string(t)
	}
	return "", fmt.Errorf("unknown key type %q (one of %s)", s, strings.Join(names, ", "))
}

// Generate creates a new private key of type t.
func Generate(t Type) (crypto.Signer, error) {
	switch t {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("unknown key type %q", t)
}

// TypeOf names the type of a public key, for records and messages.
func TypeOf(pub crypto.PublicKey) (Type, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return ECDSAP256, nil
		case elliptic.P384():
			return ECDSAP384, nil
		}
		return "", fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
	case *rsa.PublicKey:
		return Type(fmt.Sprintf("rsa-%d", k.N.BitLen())), nil
	case ed25519.PublicKey:
		return Ed25519, nil
	}
	return "", fmt.Errorf("unsupported public key type %T", pub)
}
