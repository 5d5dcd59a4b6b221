package tsa

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/vcc/vccpki/store"
)

// Query finds recorded tokens by serial or by imprint (vccpki tsa lookup).
type Query struct {
	Serial   int64    // when Imprints is nil
	Imprints [][]byte // any of these
	What     string   // the query in words, for messages and the audit log
}

// SerialQuery reads a token serial as openssl prints it ("0x2A") or in
// decimal.
func SerialQuery(s string) (Query, error) {
	s = strings.TrimSpace(s)
	base := 10
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		s, base = strings.ReplaceAll(h, ":", ""), 16
	}
	n, err := strconv.ParseInt(s, base, 64)
	if err != nil || n <= 0 {
		return Query{}, fmt.Errorf("--serial %q is not a time-stamp serial (decimal, or hex with 0x)", s)
	}
	return Query{Serial: n, What: fmt.Sprintf("serial %d", n)}, nil
}

// ImprintQuery reads a hashed message in hex; spaces, colons and dashes
// are ignored.
func ImprintQuery(s string) (Query, error) {
	clean := strings.NewReplacer(" ", "", ":", "", "-", "", "\n", "").Replace(strings.TrimPrefix(strings.ToLower(s), "0x"))
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) == 0 {
		return Query{}, fmt.Errorf("--imprint %q is not hex", s)
	}
	return Query{Imprints: [][]byte{b}, What: "imprint " + clean}, nil
}

// DataQuery finds tokens over data's SHA-256, SHA-384 or SHA-512 digest.
func DataQuery(data []byte, name string) Query {
	s256, s384, s512 := sha256.Sum256(data), sha512.Sum384(data), sha512.Sum512(data)
	return Query{Imprints: [][]byte{s256[:], s384[:], s512[:]}, What: "file " + name}
}

// Lookup returns the recorded tokens q finds.
func Lookup(ctx context.Context, records store.TimestampStore, q Query) ([]store.TimestampRecord, error) {
	var found []store.TimestampRecord
	if q.Imprints == nil {
		r, err := records.TimestampBySerial(ctx, q.Serial)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if err == nil {
			found = append(found, r)
		}
	}
	for _, im := range q.Imprints {
		rs, err := records.TimestampsByImprint(ctx, im)
		if err != nil {
			return nil, err
		}
		found = append(found, rs...)
	}
	return found, nil
}
