package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDocumentServed: the document needs no credentials and is the
// embedded file.
func TestDocumentServed(t *testing.T) {
	c := newClient(t, testSrv)
	r := c.do("", "GET", "/openapi.json", nil)
	if r.StatusCode != http.StatusOK || string(r.body) != string(Document) {
		t.Fatalf("GET /openapi.json: %d, %d bytes; want 200 and the embedded document", r.StatusCode, len(r.body))
	}
}

// TestValidatorRejects: the response check of the test client is not a
// formality: each departure from the document is reported.
func TestValidatorRejects(t *testing.T) {
	c := newClient(t, testSrv)
	tests := []struct {
		name, method, path string
		status             int
		ctype, cache, body string
		want               string
	}{
		{"undocumented status", "GET", "/profiles/argus", http.StatusTeapot, "application/json", "no-store", `{}`, "status is not supported"},
		{"missing field", "GET", "/profiles/argus", 200, "application/json", "no-store", `{"name":"argus"}`, "property"},
		{"unknown field", "GET", "/cas/services", 200, "application/json", "no-store",
			`{"name":"x","role":"root","subject":"s","serial":"01","not_before":"2026-01-01T00:00:00Z","not_after":"2027-01-01T00:00:00Z","status":"valid","secret":"x"}`, "secret"},
		{"problem of the wrong shape", "GET", "/cas/nope", 404, "application/problem+json", "no-store", `{"title":"x"}`, "type"},
		{"cacheable", "GET", "/profiles", 200, "application/json", "max-age=60", `{"items":[]}`, "Cache-Control"},
		{"no route, not a problem", "GET", "/nope", 404, "text/plain", "no-store", `nope`, "problem"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, testSrv.URL+Prefix+tc.path, nil)
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{"Content-Type": {tc.ctype}, "Cache-Control": {tc.cache}},
				Body: io.NopCloser(strings.NewReader(tc.body))}
			errs := c.check.Check(req, resp, []byte(tc.body))
			found := false
			for _, err := range errs {
				found = found || strings.Contains(err.Error(), tc.want)
			}
			if !found {
				t.Errorf("errors %v, want one mentioning %q", errs, tc.want)
			}
		})
	}
}
