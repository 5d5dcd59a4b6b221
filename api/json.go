package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// reply writes v as JSON with status.
func (c *call) reply(status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "application/json")
	c.status = status
	c.w.WriteHeader(status)
	_, _ = c.w.Write(append(b, '\n'))
	return nil
}

// decode reads the JSON request body into v: at most MaxBody bytes, no
// unknown fields, one value.
func (c *call) decode(v any) error {
	raw, err := io.ReadAll(c.r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return problem(http.StatusRequestEntityTooLarge, ProbTooLarge, fmt.Sprintf("the request body is over %d bytes", mbe.Limit))
	}
	if err != nil {
		return problem(http.StatusBadRequest, ProbMalformed, "reading the request body: "+err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return problem(http.StatusBadRequest, ProbMalformed, "the request body is not the JSON this endpoint takes: "+err.Error())
	}
	if dec.More() {
		return problem(http.StatusBadRequest, ProbMalformed, "the request body has more than one JSON value")
	}
	return nil
}

// Page is the envelope of every listing: the items and, when there are
// more, the cursor of the next page.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// DefaultLimit and MaxLimit bound a page.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// limit reads ?limit=.
func (c *call) limit() (int, error) {
	s := c.r.URL.Query().Get("limit")
	if s == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, problem(http.StatusBadRequest, ProbMalformed, fmt.Sprintf("limit %q: want a number from 1 to %d", s, MaxLimit))
	}
	return n, nil
}

// Cursors are opaque to callers: base64url of a small JSON object naming
// the listing it belongs to, so that a cursor of one listing is refused
// by another.
type cursor struct {
	Kind   string `json:"k"`
	Key    string `json:"s,omitempty"`
	Time   int64  `json:"t,omitempty"`
	Offset int64  `json:"o,omitempty"`
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// cursor reads ?cursor= for a listing of kind; ok is false without one.
func (c *call) cursor(kind string) (cursor, bool, error) {
	s := c.r.URL.Query().Get("cursor")
	if s == "" {
		return cursor{}, false, nil
	}
	bad := problem(http.StatusBadRequest, ProbBadCursor, "the cursor is not one this listing gave out; start again without it")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) > 512 {
		return cursor{}, false, bad
	}
	var cur cursor
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cur); err != nil || cur.Kind != kind || cur.Offset < 0 {
		return cursor{}, false, bad
	}
	return cur, true, nil
}
