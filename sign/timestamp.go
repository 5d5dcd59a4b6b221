package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"

	"github.com/digitorus/timestamp"
)

// maxTSAReply bounds a time-stamp reply (a token with its certificates).
const maxTSAReply = 1 << 20

// Timestamper asks an RFC 3161 time-stamping authority (vccpki's own at
// http://HOST/tsa) for a token over a signature value.
type Timestamper struct {
	URL    string
	Client *http.Client // nil: http.DefaultClient
}

// Stamp returns the DER TimeStampResp over SHA-256(signature), asking the
// TSA to include its certificate (certReq) so that a verifier holding
// only the root can check it.
func (t *Timestamper) Stamp(ctx context.Context, signature []byte) (resp []byte, ts *timestamp.Timestamp, err error) {
	sum := sha256.Sum256(signature)
	req, err := (&timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: sum[:], Certificates: true}).Marshal()
	if err != nil {
		return nil, nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(req))
	if err != nil {
		return nil, nil, err
	}
	hr.Header.Set("Content-Type", "application/timestamp-query")
	c := t.Client
	if c == nil {
		c = http.DefaultClient
	}
	r, err := c.Do(hr)
	if err != nil {
		return nil, nil, fmt.Errorf("time-stamp authority %s: %w", t.URL, err)
	}
	defer r.Body.Close()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxTSAReply))
	if err != nil {
		return nil, nil, fmt.Errorf("time-stamp authority %s: %w", t.URL, err)
	}
	if r.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("time-stamp authority %s answered %s: %.200s", t.URL, r.Status, body)
	}
	ts, err = timestamp.ParseResponse(body)
	if err != nil {
		return nil, nil, fmt.Errorf("time-stamp authority %s: %w", t.URL, err)
	}
	if !bytes.Equal(ts.HashedMessage, sum[:]) {
		return nil, nil, fmt.Errorf("time-stamp authority %s stamped another imprint", t.URL)
	}
	return body, ts, nil
}
