package ocsp

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
)

// maxRequest bounds a POST body: 64 CertIDs with a signature and its
// certificates fit; anything bigger is not an OCSP request we answer.
const maxRequest = 16 << 10

// maxGET bounds the base64 of a GET request (RFC 5019 §5 expects GET for
// requests under 255 bytes; longer ones should be POSTed).
const maxGET = 4 << 10

// Register mounts the responder on a mux: POST /ocsp (RFC 6960 A.1.1)
// and the CRLs, /crl/<issuer>.crl and /crl/<issuer>/<shard>.crl (RFC 5280
// §4.2.1.13; application/pkix-crl, RFC 2585 §4.2). GET requests come
// through Handler.
func (r *Responder) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /ocsp", r.servePOST)
	mux.HandleFunc("POST /ocsp/", r.servePOST)
	mux.HandleFunc("GET /crl/{file}", r.serveCRL)
	mux.HandleFunc("GET /crl/{issuer}/{file}", r.serveCRL)
}

// Handler answers GET /ocsp/<base64> (RFC 5019 §5) itself and passes every
// other request to next. It must stand in front of a ServeMux: base64 may
// hold "//", which clients that do not URL-encode send as is, and the mux
// would clean the path and redirect instead of routing it.
func (r *Responder) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		raw, ok := strings.CutPrefix(req.URL.Path, "/ocsp/")
		if !ok || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
			next.ServeHTTP(w, req)
			return
		}
		r.serveGET(w, req, raw)
	})
}

// Header values shared by every response; net/http only reads them.
var (
	hdrOCSPResponse = []string{"application/ocsp-response"}
	hdrNoStore      = []string{"no-store"}
	hdrPKIXCRL      = []string{"application/pkix-crl"}
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func (r *Responder) servePOST(w http.ResponseWriter, req *http.Request) {
	if !isOCSPRequestType(req.Header.Get("Content-Type")) {
		r.refuse(w, refuseContentType)
		return
	}
	if req.ContentLength > maxRequest {
		r.refuse(w, refuseTooLarge)
		return
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	body, err := readBody(http.MaxBytesReader(w, req.Body, maxRequest), (*bp)[:0])
	*bp = body[:0]
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		r.refuse(w, refuseTooLarge)
		return
	case err != nil:
		return // the client went away or timed out; nobody to answer
	}
	r.serve(w, req, body, false)
}

func readBody(rd io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// isOCSPRequestType accepts application/ocsp-request, in any case and
// with parameters.
func isOCSPRequestType(ct string) bool {
	const want = "application/ocsp-request"
	if len(ct) < len(want) || !strings.EqualFold(ct[:len(want)], want) {
		return false
	}
	rest := strings.TrimLeft(ct[len(want):], " \t")
	return rest == "" || rest[0] == ';'
}

// serveGET answers a GET whose path after /ocsp/ is raw, already
// URL-decoded by net/http.
func (r *Responder) serveGET(w http.ResponseWriter, req *http.Request, raw string) {
	if len(raw) > maxGET {
		r.refuse(w, refuseURITooLong)
		return
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	der, err := decodeGET(raw, (*bp)[:0])
	*bp = der[:0]
	if err != nil {
		r.writeStatus(w, malformedRequest)
		return
	}
	r.serve(w, req, der, true)
}

// decodeGET decodes the path of a GET request: base64 of the DER request
// (RFC 5019 §5, RFC 6960 A.1), which net/http has already URL-decoded.
// Padding is optional, and the URL-safe alphabet (RFC 4648 §5) is
// accepted too, as some clients send it.
func decodeGET(s string, dst []byte) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		s = strings.NewReplacer("-", "+", "_", "/").Replace(s)
	}
	n := base64.RawStdEncoding.DecodedLen(len(s))
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	m, err := base64.RawStdEncoding.Strict().Decode(dst[:n], []byte(s))
	return dst[:m], err
}

// serve answers one request and writes the response with the caching
// headers of RFC 5019 §6.2.
func (r *Responder) serve(w http.ResponseWriter, req *http.Request, der []byte, get bool) {
	a, err := r.answer(req.Context(), der)
	if err != nil {
		st := statusFor(err)
		if st == internalError && req.Context().Err() == nil {
			r.cfg.Log.Error("ocsp: answering", "err", err)
		}
		r.writeStatus(w, st)
		return
	}
	h := w.Header()
	h["Content-Type"] = hdrOCSPResponse
	if a.nonce {
		h["Cache-Control"] = hdrNoStore
	} else {
		etag := `"` + strconv.FormatUint(a.etag, 16) + `"`
		h["Etag"] = []string{etag}
		h["Last-Modified"] = []string{a.producedAt.UTC().Format(http.TimeFormat)}
		h["Expires"] = []string{a.nextUpdate.UTC().Format(http.TimeFormat)}
		maxAge := min(a.nextUpdate.Sub(r.cfg.Now()), r.cfg.MaxAge)
		h["Cache-Control"] = []string{"max-age=" + strconv.Itoa(max(int(maxAge/time.Second), 0)) + ", public, no-transform, must-revalidate"}
		if get && notModified(req, etag, a.producedAt) {
			r.metrics.count(a.source, successful)
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	bp := bufPool.Get().(*[]byte)
	body := ca.AppendOCSPResponse((*bp)[:0], a.signed, a.certs)
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.Write(body)
	*bp = body[:0]
	bufPool.Put(bp)
	r.metrics.count(a.source, successful)
}

// notModified implements the conditional GET a cache revalidates with
// (RFC 9110 §13.1.1, §13.1.3).
func notModified(req *http.Request, etag string, modified time.Time) bool {
	if inm := req.Header.Get("If-None-Match"); inm != "" {
		for _, t := range strings.Split(inm, ",") {
			if t = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(t), "W/")); t == etag || t == "*" {
				return true
			}
		}
		return false
	}
	if ims := req.Header.Get("If-Modified-Since"); ims != "" {
		t, err := http.ParseTime(ims)
		return err == nil && !modified.Truncate(time.Second).After(t)
	}
	return false
}

// writeStatus sends an unsigned OCSPResponse with an error status, with
// HTTP 200 as RFC 6960 A.1.2 has every OCSPResponse travel.
func (r *Responder) writeStatus(w http.ResponseWriter, st responseStatus) {
	h := w.Header()
	h["Content-Type"] = hdrOCSPResponse
	h["Cache-Control"] = hdrNoStore
	w.Write(st.body())
	r.metrics.count("error", st)
}

func (r *Responder) refuse(w http.ResponseWriter, ref httpRefusal) {
	h := w.Header()
	h["Content-Type"] = hdrOCSPResponse
	h["Cache-Control"] = hdrNoStore
	h["X-Ocsp-Error"] = []string{ref.reason}
	w.WriteHeader(ref.code)
	w.Write(malformedRequest.body())
	r.metrics.count("error", malformedRequest)
}

// serveCRL serves /crl/<issuer>.crl and /crl/<issuer>/<shard>.crl.
func (r *Responder) serveCRL(w http.ResponseWriter, req *http.Request) {
	k, ok := crlKeyOf(req.PathValue("issuer"), req.PathValue("file"))
	if !ok {
		http.Error(w, "no such CRL: try /crl/<issuer>.crl or, with shards, the URL in a certificate's CRL distribution point", http.StatusNotFound)
		return
	}
	crl, err := r.crls.get(req.Context(), k)
	switch {
	case errors.Is(err, errNoCRL):
		http.Error(w, "no such CRL: "+caerr.New(caerr.NotFound, "%s shard %d is not served", k.issuer, k.shard).Detail, http.StatusNotFound)
		return
	case errors.Is(err, errCRLNotReady):
		w.Header().Set("Retry-After", "10")
		http.Error(w, "the CRL is being built; try again shortly", http.StatusServiceUnavailable)
		return
	case err != nil:
		return // the client left before the first build finished
	}
	h := w.Header()
	etag := crlETag(crl)
	h["Content-Type"] = hdrPKIXCRL
	h["Etag"] = []string{etag}
	h["Last-Modified"] = []string{crl.ThisUpdate.UTC().Format(http.TimeFormat)}
	h["Expires"] = []string{crl.NextUpdate.UTC().Format(http.TimeFormat)}
	maxAge := min(crl.NextUpdate.Sub(r.cfg.Now()), r.cfg.MaxAge)
	h["Cache-Control"] = []string{"max-age=" + strconv.Itoa(max(int(maxAge/time.Second), 0)) + ", public, no-transform"}
	if notModified(req, etag, crl.ThisUpdate) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Length"] = []string{strconv.Itoa(crl.Size())}
	if req.Method == http.MethodHead {
		return
	}
	crl.WriteTo(w)
}

// crlKeyOf reads the CRL a path names: ("", "services.crl") is the full
// CRL, ("services", "3.crl") shard 3.
func crlKeyOf(issuer, file string) (crlKey, bool) {
	name, ok := strings.CutSuffix(file, ".crl")
	if !ok || name == "" {
		return crlKey{}, false
	}
	if issuer == "" {
		return crlKey{issuer: name}, true
	}
	n, err := strconv.Atoi(name)
	if err != nil || n < 1 || strconv.Itoa(n) != name {
		return crlKey{}, false
	}
	return crlKey{issuer: issuer, shard: n}, true
}
