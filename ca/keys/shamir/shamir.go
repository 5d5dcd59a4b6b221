// Package shamir splits a secret into N shares of which any K rebuild it
// and fewer than K reveal nothing (Shamir, "How to share a secret", 1979),
// byte by byte over GF(2^8) as HashiCorp Vault does. vccpki uses it to
// split the key that unseals the software key store among key holders.
package shamir

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
)

// MaxShares is the most shares a secret can be split into: each share is
// the polynomials' value at a distinct non-zero x in GF(2^8).
const MaxShares = 255

// mul multiplies in GF(2^8) with the AES polynomial x^8+x^4+x^3+x+1, in
// constant time: no table lookups or branches that depend on the operands.
func mul(a, b byte) byte {
	var p byte
	for range 8 {
		p ^= -(b & 1) & a
		hi := a >> 7
		a = a<<1 ^ (-hi & 0x1b)
		b >>= 1
	}
	return p
}

// inv returns the multiplicative inverse, a^254 (a^255 = 1); inv(0) = 0.
func inv(a byte) byte {
	r := a
	for range 6 { // a^(2^7-2)... built as square-and-multiply of 254 = 0b11111110
		r = mul(mul(r, r), a)
	}
	return mul(r, r)
}

// Split returns n shares of secret, any k of which rebuild it with
// Combine. Each share is len(secret) y-values followed by its x-coordinate.
func Split(secret []byte, n, k int) ([][]byte, error) {
	switch {
	case len(secret) == 0:
		return nil, errors.New("shamir: empty secret")
	case k < 1 || n < k || n > MaxShares:
		return nil, fmt.Errorf("shamir: need 1 <= threshold <= shares <= %d, have threshold %d of %d shares", MaxShares, k, n)
	case k == 1 && n > 1:
		return nil, errors.New("shamir: a threshold of 1 would make every share the secret itself; use a threshold of at least 2")
	}
	xs, err := distinctXs(n)
	if err != nil {
		return nil, err
	}
	shares := make([][]byte, n)
	for i := range shares {
		shares[i] = make([]byte, len(secret)+1)
		shares[i][len(secret)] = xs[i]
	}
	// One random polynomial of degree k-1 per secret byte, with the byte
	// as its constant term.
	coef := make([]byte, k)
	defer clear(coef)
	for j, s := range secret {
		coef[0] = s
		if _, err := rand.Read(coef[1:]); err != nil {
			return nil, err
		}
		for i := range shares {
			shares[i][j] = eval(coef, xs[i])
		}
	}
	return shares, nil
}

// eval evaluates the polynomial with coefficients coef (constant first)
// at x by Horner's rule.
func eval(coef []byte, x byte) byte {
	var y byte
	for i := len(coef) - 1; i >= 0; i-- {
		y = mul(y, x) ^ coef[i]
	}
	return y
}

// distinctXs picks n distinct non-zero x-coordinates at random, so that a
// share's number says nothing about how many shares exist.
func distinctXs(n int) ([]byte, error) {
	all := make([]byte, MaxShares)
	for i := range all {
		all[i] = byte(i + 1)
	}
	// Fisher-Yates with rejection sampling for an unbiased index.
	var b [1]byte
	for i := len(all) - 1; i > 0; i-- {
		for {
			if _, err := rand.Read(b[:]); err != nil {
				return nil, err
			}
			if int(b[0]) < 256-256%(i+1) {
				break
			}
		}
		j := int(b[0]) % (i + 1)
		all[i], all[j] = all[j], all[i]
	}
	return all[:n], nil
}

// Errors of Combine, for callers that explain them to a person.
var (
	ErrTooFew     = errors.New("shamir: at least two shares are needed")
	ErrDuplicate  = errors.New("shamir: the same share was given twice")
	ErrMismatched = errors.New("shamir: the shares have different lengths")
)

// Combine rebuilds the secret from shares by Lagrange interpolation at 0.
// Given fewer shares than the threshold, or a wrong share, it returns a
// wrong secret without error: the caller checks the result (vccpki opens
// a check value with it).
func Combine(shares [][]byte) ([]byte, error) {
	if len(shares) < 2 {
		return nil, ErrTooFew
	}
	n := len(shares[0])
	if n < 2 {
		return nil, ErrMismatched
	}
	xs := make([]byte, len(shares))
	for i, s := range shares {
		if len(s) != n {
			return nil, ErrMismatched
		}
		xs[i] = s[n-1]
		if xs[i] == 0 {
			return nil, errors.New("shamir: a share has x-coordinate 0")
		}
		for _, prev := range xs[:i] {
			if subtle.ConstantTimeByteEq(prev, xs[i]) == 1 {
				return nil, ErrDuplicate
			}
		}
	}
	// Lagrange basis at 0: l_i = prod_{j!=i} x_j / (x_j - x_i); in GF(2^8)
	// subtraction is XOR.
	basis := make([]byte, len(xs))
	for i := range xs {
		num, den := byte(1), byte(1)
		for j := range xs {
			if i != j {
				num = mul(num, xs[j])
				den = mul(den, xs[j]^xs[i])
			}
		}
		basis[i] = mul(num, inv(den))
	}
	secret := make([]byte, n-1)
	for j := range secret {
		var y byte
		for i, s := range shares {
			y ^= mul(s[j], basis[i])
		}
		secret[j] = y
	}
	return secret, nil
}
