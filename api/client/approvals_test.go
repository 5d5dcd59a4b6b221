package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/vcc/vccpki/api"
)

// TestApprovals: the client walks the pages of GET /approvals with their
// cursor, approves with POST /approvals/{id}, denies with POST
// /approvals/{id}/deny, and returns a refusal as the server's problem.
func TestApprovals(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls = append(calls, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		switch {
		case r.Method == "GET" && r.URL.Path == "/api/v1/approvals" && r.URL.Query().Get("cursor") == "":
			reply(w, 200, api.Page[api.Approval]{Items: []api.Approval{{ID: "apr-1", Status: "pending"}}, Next: "c2"})
		case r.Method == "GET" && r.URL.Path == "/api/v1/approvals":
			reply(w, 200, api.Page[api.Approval]{Items: []api.Approval{{ID: "apr-2", Status: "pending"}}})
		case r.Method == "POST" && r.URL.Path == "/api/v1/approvals/apr-1":
			reply(w, 200, api.Approval{ID: "apr-1", Status: "executed"})
		case r.Method == "POST" && r.URL.Path == "/api/v1/approvals/apr-2/deny":
			reply(w, 200, api.Approval{ID: "apr-2", Status: "denied"})
		default:
			w.Header().Set("Content-Type", "application/problem+json")
			reply(w, 403, api.Problem{Type: api.ProblemBase + "forbidden", Title: "Forbidden", Status: 403, Detail: "you requested this act"})
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := &Client{Base: srv.URL, HTTP: srv.Client(), Token: func(context.Context) (string, error) { return "tok", nil }}
	ctx := t.Context()

	var ids []string
	if err := c.Approvals(ctx, url.Values{"status": {"pending"}}, func(a api.Approval) error { ids = append(ids, a.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != "apr-1,apr-2" {
		t.Errorf("walked %v, want apr-1,apr-2", ids)
	}
	cases := []struct {
		name, id, status string
		do               func(context.Context, string) (*api.Approval, error)
	}{
		{"approve", "apr-1", "executed", c.Approve},
		{"deny", "apr-2", "denied", c.Deny},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := tc.do(ctx, tc.id)
			if err != nil || a.ID != tc.id || a.Status != tc.status {
				t.Fatalf("%+v %v", a, err)
			}
		})
	}
	_, err := c.Approve(ctx, "apr-3")
	var p *Problem
	if !errors.As(err, &p) || err.Error() != "the server refused (403 forbidden): you requested this act" {
		t.Errorf("refusal: %v", err)
	}
	want := []string{
		"GET /api/v1/approvals?status=pending Bearer tok",
		"GET /api/v1/approvals?cursor=c2&status=pending Bearer tok",
		"POST /api/v1/approvals/apr-1 Bearer tok",
		"POST /api/v1/approvals/apr-2/deny Bearer tok",
		"POST /api/v1/approvals/apr-3 Bearer tok",
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
}
