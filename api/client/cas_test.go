package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vcc/vccpki/api"
)

// TestCAsAndOrganisations: each call of the CA lifecycle and the
// organisations sends its method, path and body, and decodes the answer;
// listings follow the cursor; a refusal is the server's problem.
func TestCAsAndOrganisations(t *testing.T) {
	type seen struct{ method, path, body string }
	var got seen
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = seen{r.Method, r.URL.Path, strings.TrimSpace(string(b))}
		switch p := r.URL.Path; {
		case r.Header.Get("Authorization") != "Bearer tok":
			reply(w, 401, api.Problem{Type: api.ProblemBase + "unauthorized", Title: "Unauthorized", Status: 401})
		case p == "/api/v1/cas" && r.Method == "GET" && r.URL.Query().Get("cursor") == "":
			reply(w, 200, api.Page[api.CA]{Items: []api.CA{{Name: "root"}}, Next: "n"})
		case p == "/api/v1/cas" && r.Method == "GET":
			reply(w, 200, api.Page[api.CA]{Items: []api.CA{{Name: "services"}}})
		case p == "/api/v1/cas/services":
			reply(w, 200, api.CA{Name: "services", Generation: 2})
		case r.Method == "POST" && (p == "/api/v1/cas" || strings.HasPrefix(p, "/api/v1/cas/")):
			reply(w, 202, api.Approval{ID: "apr-1", Status: "pending"})
		case p == "/api/v1/organisations/akme/cas" && strings.Contains(string(b), "taken"):
			reply(w, 409, api.Problem{Type: api.ProblemBase + "conflict", Title: "Conflict", Status: 409, Detail: "CA taken belongs to organisation bravo"})
		case p == "/api/v1/organisations" && r.Method == "GET":
			reply(w, 200, api.Page[api.Organisation]{Items: []api.Organisation{{Name: "akme"}}})
		case strings.HasPrefix(p, "/api/v1/organisations"):
			reply(w, 200, api.Organisation{Name: "akme", CAs: []string{"ext-akme"}})
		default:
			reply(w, 404, api.Problem{Type: api.ProblemBase + "not-found", Title: "Not Found", Status: 404})
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := &Client{Base: srv.URL, HTTP: srv.Client(), Token: func(context.Context) (string, error) { return "tok", nil }}
	ctx := t.Context()

	var names []string
	if err := c.CAs(ctx, nil, func(v api.CA) error { names = append(names, v.Name); return nil }); err != nil || strings.Join(names, ",") != "root,services" {
		t.Fatalf("CAs walked %v: %v", names, err)
	}
	approval := func(a *api.Approval, err error) (string, error) { return a.ID, err }
	org := func(o *api.Organisation, err error) (string, error) {
		return o.Name + " " + strings.Join(o.CAs, ","), err
	}
	for _, tc := range []struct {
		name string
		call func() (string, error)
		want seen
		out  string
	}{
		{"ca detail", func() (string, error) {
			v, err := c.CA(ctx, "services")
			return fmt.Sprintf("%s %d", v.Name, v.Generation), err
		}, seen{"GET", "/api/v1/cas/services", ""}, "services 2"},
		{"ca create", func() (string, error) {
			return approval(c.RequestCACreate(ctx, api.CreateCARequest{Name: "ext-orgs", Parent: "root", PathLen: 1}))
		}, seen{"POST", "/api/v1/cas", `{"name":"ext-orgs","parent":"root","path_len":1}`}, "apr-1"},
		{"ca revoke", func() (string, error) {
			return approval(c.RequestCARevoke(ctx, "ext-orgs", api.CARevokeRequest{Reason: "superseded"}))
		}, seen{"POST", "/api/v1/cas/ext-orgs/revoke", `{"reason":"superseded"}`}, "apr-1"},
		{"ca rollover", func() (string, error) {
			return approval(c.RequestCARollover(ctx, "services", api.CARolloverRequest{Key: "ecdsa-p384"}))
		}, seen{"POST", "/api/v1/cas/services/rollover", `{"key":"ecdsa-p384"}`}, "apr-1"},
		{"org create", func() (string, error) { return org(c.CreateOrganisation(ctx, "akme", "Akme")) },
			seen{"POST", "/api/v1/organisations", `{"name":"akme","display":"Akme"}`}, "akme ext-akme"},
		{"org show", func() (string, error) { return org(c.Organisation(ctx, "akme")) }, seen{"GET", "/api/v1/organisations/akme", ""}, "akme ext-akme"},
		{"org add-ca", func() (string, error) { return org(c.AddOrganisationCA(ctx, "akme", "ext-akme")) },
			seen{"POST", "/api/v1/organisations/akme/cas", `{"ca":"ext-akme"}`}, "akme ext-akme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.call()
			if err != nil || out != tc.out || got != tc.want {
				t.Fatalf("got %q, %v; sent %+v; want %q, sent %+v", out, err, got, tc.out, tc.want)
			}
		})
	}
	var orgs []string
	if err := c.Organisations(ctx, func(o api.Organisation) error { orgs = append(orgs, o.Name); return nil }); err != nil || strings.Join(orgs, ",") != "akme" {
		t.Fatalf("Organisations %v: %v", orgs, err)
	}
	_, err := c.AddOrganisationCA(ctx, "akme", "taken")
	var p *Problem
	if !errors.As(err, &p) || p.Status != 409 || !strings.Contains(err.Error(), "belongs to organisation bravo") {
		t.Fatalf("a CA of another organisation: %v", err)
	}
}
