package acmetest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// CaptureBodies writes every request body real clients send to
// $VCCPKI_ACME_CAPTURE/<user agent>-<n>, when set: the seeds of the fuzz
// corpus in testdata/fuzz come from such a run.
func CaptureBodies(h http.Handler) http.Handler {
	dir := os.Getenv("VCCPKI_ACME_CAPTURE")
	if dir == "" {
		return h
	}
	var mu sync.Mutex
	n := 0
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			r.Body = io.NopCloser(bytes.NewReader(body))
			ua := strings.Fields(r.UserAgent() + " unknown")[0]
			ua = strings.Map(func(c rune) rune {
				if c == '/' || c == ' ' {
					return '_'
				}
				return c
			}, ua)
			mu.Lock()
			n++
			name := fmt.Sprintf("%s-%04d", ua, n)
			mu.Unlock()
			_ = os.WriteFile(filepath.Join(dir, name), body, 0o644)
		}
		h.ServeHTTP(w, r)
	})
}
