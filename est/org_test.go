package est

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
)

// TestOrganisationLabels: EST labels of an organisation live under its
// name (/.well-known/est/<org>/<profile>/); a label of another
// organisation is unknown there (404), and credentials of one
// organisation are refused at another's profile (403) whatever service
// they name, with nothing issued. The test hierarchy has only the
// operator's profiles, so the partner here is a name and a credential.
func TestOrganisationLabels(t *testing.T) {
	ctx := context.Background()
	if err := env.store.CreateOrganisation(ctx, store.Organisation{Name: "akme", Display: "Akme", CreatedAt: time.Now(), CreatedBy: "test"},
		store.AuditEvent{Actor: "test", Action: "org.create", Object: "akme", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	// A partner's user whose service names the operator's profile: only
	// the organisation check stands between it and argus.
	const partnerUser, partnerPassword = "akme-agent", "akme-password-1"
	hash, err := HashPassword(partnerPassword, testHashParams)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.store.AddESTUser(ctx, store.ESTUser{User: partnerUser, Service: "argus", Hash: hash, CreatedAt: time.Now(), Org: "akme"},
		store.AuditEvent{Actor: "test", Action: "est.user.add", Object: partnerUser, Result: "ok", Org: "akme"}); err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	csr := b64(newCSR(t, key, "", "org.argus.test").Raw)
	tests := []struct {
		name   string
		req    estRequest
		status int
		msg    string
	}{
		{"operator label under its own name", estRequest{method: http.MethodGet, path: "/.well-known/est/vcc/argus/cacerts"}, 200, ""},
		{"operator label under a partner's name", estRequest{method: http.MethodGet, path: "/.well-known/est/akme/argus/cacerts"}, 404, `unknown EST label "argus"`},
		{"enrol at the operator's label under a partner's name", estRequest{path: "/.well-known/est/akme/argus/simpleenroll", user: "argus-agent", body: csr}, 404, `unknown EST label "argus"`},
		{"partner credentials at the operator's profile", estRequest{path: "/.well-known/est/argus/simpleenroll", user: partnerUser, password: partnerPassword, body: csr}, 403, "belong to another organisation"},
		{"partner credentials under the operator's name", estRequest{path: "/.well-known/est/vcc/argus/simpleenroll", user: partnerUser, password: partnerPassword, body: csr}, 403, "belong to another organisation"},
	}
	before := certCount(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := tc.req.do(t)
			if status != tc.status || !strings.Contains(body, tc.msg) {
				t.Errorf("%s: %d %q; want %d containing %q", tc.req.path, status, body, tc.status, tc.msg)
			}
		})
	}
	if n := certCount(t); n != before {
		t.Errorf("%d certificates after the refusals; want %d", n, before)
	}
	// The operator's own credentials still enrol under /vcc/ (the control).
	if status, body, _ := (estRequest{path: "/.well-known/est/vcc/argus/simpleenroll", user: "argus-agent", body: csr}).do(t); status != 200 {
		t.Errorf("the operator's user under /vcc/: %d %s; want 200", status, body)
	}
}
