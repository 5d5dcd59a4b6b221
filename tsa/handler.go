package tsa

import (
	"context"
	"crypto"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/digitorus/timestamp"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
)

// Stamper is the part of the CA engine this front end uses.
type Stamper interface {
	Timestamp(ctx context.Context, req ca.TimestampRequest) (ca.Timestamped, error)
}

// Media types of RFC 3161 §3.4.
const (
	queryType = "application/timestamp-query"
	replyType = "application/timestamp-reply"
)

// replyHeader is shared by every reply; net/http only reads it.
var replyHeader = []string{replyType}

// Handler answers time-stamp requests over HTTP (RFC 3161 §3.4).
type Handler struct {
	stamper Stamper
	offer   *offer
	log     *slog.Logger
	bodies  sync.Pool // *[]byte of maxBody+1 bytes
}

// New returns the handler for POST /tsa.
func New(s Stamper, cfg Config, log *slog.Logger) (*Handler, error) {
	o, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	h := &Handler{stamper: s, offer: o, log: log}
	h.bodies.New = func() any { b := make([]byte, o.maxBody+1); return &b }
	return h, nil
}

// DefaultPolicy is the policy of tokens whose request names none.
func (h *Handler) DefaultPolicy() ca.TimestampPolicy { return h.offer.policies[0] }

// ServeHTTP answers one TimeStampReq. Every answer, refusals included, is
// a TimeStampResp with status 200 (RFC 3161 §3.4); a refusal carries a
// PKIStatus rejection, the failInfo bit and a message.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bp := h.bodies.Get().(*[]byte)
	defer h.bodies.Put(bp)
	if !isQueryType(r.Header.Get("Content-Type")) {
		h.refuse(w, reject(timestamp.BadRequest, "the request's Content-Type must be %s (RFC 3161 §3.4)", queryType))
		return
	}
	body, rej := h.readBody(w, r, *bp)
	if rej != nil {
		h.refuse(w, rej)
		return
	}
	req, rej := parseRequest(body)
	if rej == nil {
		rej = h.check(&req)
	}
	if rej != nil {
		h.refuse(w, rej)
		return
	}
	policy := h.offer.policies[0]
	if req.policy != nil {
		policy = h.offer.policies[slices.IndexFunc(h.offer.contents, func(c []byte) bool { return string(c) == string(req.policy) })]
	}
	got, err := h.stamper.Timestamp(r.Context(), ca.TimestampRequest{
		Hash: req.hash, HashParamsAbsent: req.hashParamsAbsent, Digest: req.digest, Nonce: req.nonce,
		Policy: policy, Accuracy: h.offer.accuracy, CertReq: req.certReq,
	})
	if err != nil {
		info := failureFor(err)
		if info == timestamp.SystemFailure {
			h.log.Error("time-stamp failed", "err", err)
		}
		h.refuse(w, reject(info, "%s", caerr.Detail(err)))
		return
	}
	w.Header()["Content-Type"] = replyHeader
	w.Write(got.DER)
}

// check compares a parsed request with what this TSA offers.
func (h *Handler) check(req *request) *rejection {
	if !slices.Contains(h.offer.hashes, req.hash) {
		return reject(timestamp.BadAlgorithm, "%v message imprints are not accepted; use %s", req.hash, hashList(h.offer.hashes))
	}
	if len(req.digest) != req.hash.Size() {
		return reject(timestamp.BadDataFormat, "a %v digest has %d bytes; this one has %d", req.hash, req.hash.Size(), len(req.digest))
	}
	if req.policy != nil && !slices.ContainsFunc(h.offer.contents, func(c []byte) bool { return string(c) == string(req.policy) }) {
		return reject(timestamp.UnacceptedPolicy, "policy %s is not offered; this TSA offers %s", oidText(req.policy), h.policyList())
	}
	return nil
}

// readBody reads the whole body into buf, refusing more than maxBody
// bytes (http.MaxBytesReader also stops the connection from being reused
// for the rest of an oversized body).
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, buf []byte) ([]byte, *rejection) {
	tooBig := reject(timestamp.BadDataFormat, "the request is larger than %d bytes; a TimeStampReq is a few hundred", h.offer.maxBody)
	if r.ContentLength > h.offer.maxBody {
		return nil, tooBig
	}
	body := http.MaxBytesReader(w, r.Body, h.offer.maxBody)
	n := 0
	for n < len(buf) {
		m, err := body.Read(buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			break
		}
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, tooBig
		}
		if err != nil {
			return nil, reject(timestamp.BadDataFormat, "reading the request: %v", err)
		}
	}
	if n == 0 {
		return nil, reject(timestamp.BadDataFormat, "the request body is empty; send a DER TimeStampReq")
	}
	return buf[:n], nil
}

func (h *Handler) refuse(w http.ResponseWriter, rej *rejection) {
	w.Header()["Content-Type"] = replyHeader
	w.Write(errorReply(rej.info, rej.detail))
}

// isQueryType accepts the media type with parameters and in any case.
func isQueryType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), queryType)
}

func (h *Handler) policyList() string {
	var s []string
	for _, p := range h.offer.policies {
		s = append(s, p.String())
	}
	return strings.Join(s, ", ")
}

func hashList(hs []crypto.Hash) string {
	var s []string
	for _, h := range hs {
		s = append(s, h.String())
	}
	return strings.Join(s, ", ")
}
