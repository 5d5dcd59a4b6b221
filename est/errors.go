package est

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/vcc/vccpki/ca/caerr"
)

// Error is an EST error reply: an HTTP status with a text/plain message
// (RFC 7030 §4.2.3: "the response data MUST be a plaintext human-readable
// error message"). It implements the globalsign est.Error interface, so the
// router writes it the same way.
type Error struct {
	Status  int
	Message string
	Retry   time.Duration // sent as Retry-After
	// Challenge is the WWW-Authenticate value of a 401 (RFC 7235 §4.1).
	Challenge string
}

func (e *Error) Error() string { return e.Message }

// StatusCode implements est.Error.
func (e *Error) StatusCode() int { return e.Status }

// RetryAfter implements est.Error: seconds, rounded up.
func (e *Error) RetryAfter() int {
	if e.Retry <= 0 {
		return 0
	}
	return int((e.Retry + time.Second - 1) / time.Second)
}

// statusOfKind is the one table from engine error kinds to EST replies.
// RFC 7030 names few statuses (§4.2.3: 202 with Retry-After, 4xx/5xx with
// a message); the rest follow RFC 9110.
var statusOfKind = map[caerr.Kind]int{
	caerr.Malformed:           http.StatusBadRequest,
	caerr.BadCSR:              http.StatusBadRequest,
	caerr.BadPublicKey:        http.StatusBadRequest,
	caerr.BadRevocationReason: http.StatusBadRequest,
	caerr.LintFailed:          http.StatusBadRequest,
	caerr.RejectedIdentifier:  http.StatusForbidden, // the caller may not have these names
	caerr.Unauthorized:        http.StatusForbidden,
	caerr.UnknownProfile:      http.StatusNotFound,
	caerr.NotFound:            http.StatusNotFound,
	caerr.Conflict:            http.StatusConflict,
	caerr.RateLimited:         http.StatusTooManyRequests,
	caerr.Unavailable:         http.StatusServiceUnavailable,
	caerr.Internal:            http.StatusInternalServerError,
}

// fromEngine turns an engine error into an EST reply. Internal errors are
// logged here and shown to the client only as "internal error".
func fromEngine(log *slog.Logger, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	kind := caerr.KindOf(err)
	status, ok := statusOfKind[kind]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status == http.StatusInternalServerError {
		log.Error("EST request failed", "err", err)
	}
	out := &Error{Status: status, Message: caerr.Detail(err)}
	var ce *caerr.Error
	if errors.As(err, &ce) {
		out.Retry = ce.RetryAfter
	}
	return out
}

// writeError writes an error reply before the router runs, in the
// router's own format ("<status> <message>\n").
func writeError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Message: "internal error"}
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if s := e.RetryAfter(); s > 0 {
		h.Set("Retry-After", strconv.Itoa(s))
	}
	if e.Challenge != "" {
		h.Set("WWW-Authenticate", e.Challenge)
	}
	w.WriteHeader(e.Status)
	fmt.Fprintf(w, "%d %s\n", e.Status, e.Message)
}
