package shamir

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Share is one key holder's share as printed and typed:
//
//	VKS1-<set>-<threshold>-<x>-<y in base32>-<check>
//
// set names the split the share belongs to (a rekey makes a new set),
// threshold is how many shares open it, and check is the start of a
// SHA-256 over the rest, so a typing error is caught before the share
// reaches the server.
type Share struct {
	Set       string // 8 hex digits
	Threshold int
	X         byte
	Y         []byte
}

const sharePrefix = "VKS1"

// MaxEncodedLen bounds what ParseShare reads: a 64-byte secret's share
// with room for spaces a holder types between groups.
const MaxEncodedLen = 512

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// FromRaw wraps a share made by Split (y-values, then x) for printing.
func FromRaw(set string, threshold int, raw []byte) Share {
	n := len(raw) - 1
	return Share{Set: set, Threshold: threshold, X: raw[n], Y: append([]byte(nil), raw[:n]...)}
}

// Raw returns the share in the form Combine takes.
func (s Share) Raw() []byte { return append(append([]byte(nil), s.Y...), s.X) }

// Wipe zeroes the share's secret part.
func (s Share) Wipe() { clear(s.Y) }

func (s Share) body() string {
	return fmt.Sprintf("%s-%s-%d-%d-%s", sharePrefix, s.Set, s.Threshold, s.X, b32.EncodeToString(s.Y))
}

func check(body string) string {
	sum := sha256.Sum256([]byte(body))
	return strings.ToUpper(hex.EncodeToString(sum[:4]))
}

// String encodes the share.
func (s Share) String() string {
	b := s.body()
	return b + "-" + check(b)
}

// ParseShare reads a share as a holder typed it: case and spaces do not
// matter. Every error says what is wrong without echoing the share.
func ParseShare(text string) (Share, error) {
	if len(text) > MaxEncodedLen {
		return Share{}, errors.New("not a share: too long")
	}
	t := strings.ToUpper(strings.Join(strings.Fields(text), ""))
	parts := strings.Split(t, "-")
	if len(parts) != 6 || parts[0] != sharePrefix {
		return Share{}, errors.New("not a vccpki share: it should look like VKS1-XXXXXXXX-3-17-ABC...-XXXXXXXX")
	}
	body := strings.Join(parts[:5], "-")
	if check(body) != parts[5] {
		return Share{}, errors.New("the share's check digits do not match: a character is mistyped or missing")
	}
	// A matching check on a malformed body is possible only on purpose,
	// so the fields below are still validated.
	var s Share
	if len(parts[1]) != 8 {
		return Share{}, errors.New("the share's set identifier is not 8 hex digits")
	}
	if _, err := hex.DecodeString(parts[1]); err != nil {
		return Share{}, errors.New("the share's set identifier is not 8 hex digits")
	}
	s.Set = parts[1]
	k, err := strconv.Atoi(parts[2])
	if err != nil || k < 1 || k > MaxShares || parts[2] != strconv.Itoa(k) {
		return Share{}, errors.New("the share's threshold is not a number from 1 to 255")
	}
	s.Threshold = k
	x, err := strconv.Atoi(parts[3])
	if err != nil || x < 1 || x > MaxShares || parts[3] != strconv.Itoa(x) {
		return Share{}, errors.New("the share's number is not from 1 to 255")
	}
	s.X = byte(x)
	if s.Y, err = b32.DecodeString(parts[4]); err != nil || len(s.Y) == 0 {
		return Share{}, errors.New("the share's value is not base32")
	}
	return s, nil
}
