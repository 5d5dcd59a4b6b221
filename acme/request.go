package acme

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/store"
)

// keyMode says which key reference a resource accepts (RFC 8555 §6.2:
// "jwk" only for newAccount and revokeCert, "kid" everywhere else).
type keyMode int

const (
	withKID keyMode = iota
	withJWK
	withJWKOrKID
)

// request is an authenticated ACME request.
type request struct {
	r       *http.Request
	base    string // URL prefix
	url     string // the URL the JWS was signed for
	jws     *jws
	key     *jwk               // the signing key
	account *store.ACMEAccount // nil for "jwk" requests
	payload []byte             // verified payload
}

// postAsGet reports whether the request is a POST-as-GET (RFC 8555 §6.3):
// an empty payload, not "{}".
func (q *request) postAsGet() bool { return len(q.payload) == 0 }

func (q *request) accountURL() string { return q.accountURLOf(q.account.ID) }

// URLs of ACME objects, under the base the client used.
func (q *request) accountURLOf(id store.AccountID) string { return q.abs(pathAccount + string(id)) }
func (q *request) orderURL(id store.OrderID) string       { return q.abs(pathOrder + string(id)) }
func (q *request) authzURL(id store.AuthzID) string       { return q.abs(pathAuthz + string(id)) }
func (q *request) challengeURL(id store.AuthzID, typ string) string {
	return q.abs(pathChallenge + string(id) + "/" + typ)
}

func (q *request) requester() ca.Requester {
	return ca.Requester{Protocol: ca.ProtocolACME, Subject: q.accountURL()}
}

// decode reads the payload as JSON into v.
func (q *request) decode(v any) *problem {
	if q.postAsGet() {
		return malformed("this resource needs a JSON payload, not a POST-as-GET")
	}
	if err := json.Unmarshal(q.payload, v); err != nil {
		return malformed("the JWS payload is not the expected JSON object: %v", jsonErr(err))
	}
	return nil
}

// reply is a successful response.
type reply struct {
	status     int
	body       any    // JSON-encoded when raw is nil
	raw        []byte // sent as is, with ctype
	ctype      string
	location   string
	links      []string // full Link values
	retryAfter string
}

type handlerFunc func(ctx context.Context, q *request) (*reply, error)

// post authenticates a JWS request (RFC 8555 §6.2-§6.5) and runs h. Every
// check happens before h runs, so a request failing any of them changes
// nothing but spending its nonce.
func (s *Server) post(mode keyMode, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, p := s.authenticate(w, r, mode)
		if p != nil {
			writeProblem(w, p)
			return
		}
		rep, err := h(r.Context(), q)
		if err != nil {
			writeProblem(w, s.internal(r.URL.Path, err))
			return
		}
		writeReply(w, rep)
	})
}

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, mode keyMode) (*request, *problem) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/jose+json" {
		p := malformed("the Content-Type must be application/jose+json (RFC 8555 §6.2)")
		p.Status = http.StatusUnsupportedMediaType
		return nil, p
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			p := malformed("the request body is over the limit of %d bytes", mbe.Limit)
			p.Status = http.StatusRequestEntityTooLarge
			return nil, p
		}
		return nil, malformed("reading the request body failed")
	}
	j, p := parseJWS(bytes.TrimSpace(body))
	if p != nil {
		return nil, p
	}
	if p := checkAlg(j.header.Alg); p != nil {
		return nil, p
	}
	q := &request{r: r, base: s.base(r), jws: j}
	q.url = q.abs(r.URL.Path) // the URL as the client sent it, in its organisation's tree
	if r.URL.RawQuery != "" {
		q.url += "?" + r.URL.RawQuery
	}
	// RFC 8555 §6.4: the signed "url" must be the URL requested.
	if j.header.URL != q.url {
		return nil, unauthorized("the JWS url %q is not the URL requested, %q", j.header.URL, q.url)
	}
	hasJWK, hasKID := len(j.header.JWK) > 0 && string(j.header.JWK) != "null", j.header.KID != ""
	switch {
	case hasJWK && hasKID:
		return nil, malformed("the JWS has both \"jwk\" and \"kid\"; use exactly one (RFC 8555 §6.2)")
	case !hasJWK && !hasKID:
		return nil, malformed("the JWS has neither \"jwk\" nor \"kid\"")
	case hasJWK && mode == withKID:
		return nil, malformed("this resource needs a \"kid\" header naming the account, not \"jwk\" (RFC 8555 §6.2)")
	case hasKID && mode == withJWK:
		return nil, malformed("newAccount needs a \"jwk\" header with the account key, not \"kid\" (RFC 8555 §7.3)")
	}
	ctx := r.Context()
	if hasJWK {
		if q.key, p = parseJWK(j.header.JWK); p != nil {
			return nil, p
		}
	} else {
		prefix := q.abs(pathAccount)
		id, ok := strings.CutPrefix(j.header.KID, prefix)
		if !ok || id == "" || strings.Contains(id, "/") {
			return nil, newProblem(probAccountDoesNotExist, http.StatusBadRequest, "the JWS kid %q is not an account URL of this server", j.header.KID)
		}
		acct, key, err := s.accounts.get(ctx, s.store, store.AccountID(id))
		if errors.Is(err, store.ErrNotFound) {
			return nil, newProblem(probAccountDoesNotExist, http.StatusBadRequest, "no account %q", j.header.KID)
		}
		if err != nil {
			return nil, s.internal("account lookup", err)
		}
		if store.OrgOf(acct.Org) != orgOf(ctx) {
			// The kid is under this tree's prefix, so the account was
			// created in another organisation's tree with a forged URL.
			return nil, unauthorized("account %q belongs to another organisation's directory", j.header.KID)
		}
		q.key, q.account = key, &acct
	}
	if p := j.verify(q.key); p != nil {
		return nil, p
	}
	shared, err := s.nonces.spend(ctx, j.header.Nonce)
	if shared {
		// The nonce came from another instance: this reply's nonce must be
		// good wherever the client's next request lands (nonce.go).
		w.Header().Set("Replay-Nonce", s.nonces.issueShared())
	}
	if err != nil {
		return nil, s.internal("nonce", err)
	}
	if q.account != nil && q.account.Status != store.StatusValid {
		// RFC 8555 §7.3.6: requests signed by a deactivated account fail.
		return nil, unauthorized("account %s is %s", q.accountURL(), q.account.Status)
	}
	q.payload = j.payload
	return q, nil
}

func writeReply(w http.ResponseWriter, rep *reply) {
	h := w.Header()
	if rep.location != "" {
		h.Set("Location", rep.location)
	}
	for _, l := range rep.links {
		h.Add("Link", l)
	}
	if rep.retryAfter != "" {
		h.Set("Retry-After", rep.retryAfter)
	}
	status := rep.status
	if status == 0 {
		status = http.StatusOK
	}
	if rep.raw != nil {
		h.Set("Content-Type", rep.ctype)
		w.WriteHeader(status)
		w.Write(rep.raw)
		return
	}
	if rep.body == nil {
		w.WriteHeader(status)
		return
	}
	// Compact: indentation was a second pass over every response for no
	// client's benefit.
	b, err := json.Marshal(rep.body)
	if err != nil {
		writeProblem(w, toProblem(err))
		return
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
