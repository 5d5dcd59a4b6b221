// Package tsa is the RFC 3161 time-stamp authority front end: it answers
// POST /tsa (application/timestamp-query → application/timestamp-reply),
// checks each TimeStampReq against what this TSA offers, and asks the CA
// engine, which holds the TSA key, the clock and the serials, to sign.
package tsa

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"github.com/vcc/vccpki/ca"
)

// DefaultMaxRequestBytes bounds a request body. A TimeStampReq with a
// SHA-512 imprint, a policy and a nonce is about 120 bytes.
const DefaultMaxRequestBytes = 4096

// Config is what this TSA offers.
type Config struct {
	// Policies are the TSA policies a request may ask for; the first is
	// put in tokens whose request names none.
	Policies []x509.OID
	// Accuracy of genTime (RFC 3161 §2.4.2), a whole number of
	// microseconds; 0 leaves it out of tokens.
	Accuracy time.Duration
	// Hashes are the message imprint algorithms accepted: any of SHA-256,
	// SHA-384 and SHA-512.
	Hashes []crypto.Hash
	// MaxRequestBytes bounds the request body; 0 means DefaultMaxRequestBytes.
	MaxRequestBytes int64
}

// DefaultHashes are the imprint algorithms accepted unless configured.
var DefaultHashes = []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}

// offer is a validated Config, encoded for the request path.
type offer struct {
	policies []ca.TimestampPolicy
	contents [][]byte // OID contents of policies, to compare with reqPolicy
	hashes   []crypto.Hash
	accuracy time.Duration
	maxBody  int64
}

func (c Config) compile() (*offer, error) {
	o := &offer{accuracy: c.Accuracy, maxBody: c.MaxRequestBytes, hashes: slices.Clone(c.Hashes)}
	if len(c.Policies) == 0 {
		return nil, fmt.Errorf("tsa: at least one policy OID is needed")
	}
	for _, oid := range c.Policies {
		p, err := ca.NewTimestampPolicy(oid)
		if err != nil {
			return nil, fmt.Errorf("tsa: policy: %w", err)
		}
		if slices.ContainsFunc(o.policies, func(q ca.TimestampPolicy) bool { return q.String() == p.String() }) {
			return nil, fmt.Errorf("tsa: policy %s is listed twice", p)
		}
		o.policies = append(o.policies, p)
		o.contents = append(o.contents, p.DER()[2:])
	}
	if c.Accuracy < 0 || c.Accuracy%time.Microsecond != 0 {
		return nil, fmt.Errorf("tsa: accuracy %v must be a whole, non-negative number of microseconds", c.Accuracy)
	}
	if len(o.hashes) == 0 {
		o.hashes = slices.Clone(DefaultHashes)
	}
	for _, h := range o.hashes {
		if !slices.Contains(DefaultHashes, h) {
			return nil, fmt.Errorf("tsa: hash %v is not offered; choose among SHA-256, SHA-384 and SHA-512 (SHA-1 and MD5 are too weak)", h)
		}
	}
	if o.maxBody == 0 {
		o.maxBody = DefaultMaxRequestBytes
	}
	if o.maxBody < 256 {
		return nil, fmt.Errorf("tsa: max request size %d is too small for a TimeStampReq", o.maxBody)
	}
	return o, nil
}

// ParseHash reads a configured hash name: sha256, sha384 or sha512.
func ParseHash(name string) (crypto.Hash, error) {
	switch name {
	case "sha256", "SHA-256", "SHA256":
		return crypto.SHA256, nil
	case "sha384", "SHA-384", "SHA384":
		return crypto.SHA384, nil
	case "sha512", "SHA-512", "SHA512":
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("hash %q is not offered; use sha256, sha384 or sha512 (SHA-1 and MD5 are refused)", name)
}

// Validate checks the configuration as New would.
func (c Config) Validate() error {
	_, err := c.compile()
	return err
}
