package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/est"
	"github.com/vcc/vccpki/store"
)

// endpointCase is how the authorization table calls one endpoint: a
// fresh request (objects it acts on are made for each call) and the
// roles that may call it. Least privilege, written out rather than
// derived from auth.DefaultRoles.
type endpointCase struct {
	allowed []string // role names
	req     func(t *testing.T) (path string, body any)
}

func fixed(path string, body any) func(*testing.T) (string, any) {
	return func(*testing.T) (string, any) { return path, body }
}

var everyRole = []string{"pki_admin", "code_signer", "verifier", "auditor"}

func endpointCases() map[string]endpointCase {
	return map[string]endpointCase{
		"GET /cas":            {[]string{"pki_admin", "auditor"}, fixed("/cas", nil)},
		"GET /cas/{name}":     {[]string{"pki_admin", "auditor"}, fixed("/cas/services", nil)},
		"GET /cas/{name}/crl": {[]string{"pki_admin", "auditor"}, fixed("/cas/services/crl", nil)},
		"POST /cas": {[]string{"pki_admin"}, func(*testing.T) (string, any) {
			return "/cas", CreateCARequest{Name: "authz-" + uniq(), Parent: "root", PermittedDNS: []string{".authz.example"}}
		}},
		"POST /cas/{name}/revoke": {[]string{"pki_admin"}, fixed("/cas/code-signing/revoke", CARevokeRequest{Reason: "superseded"})},
		"GET /certificates":       {[]string{"pki_admin", "verifier", "auditor"}, fixed("/certificates?limit=5", nil)},
		"POST /certificates": {[]string{"pki_admin"}, func(t *testing.T) (string, any) {
			return "/certificates", IssueRequest{Profile: "argus", CSR: newCSR(t, "i"+uniq()+".argus.vcc.internal")}
		}},
		"GET /certificates/{serial}": {[]string{"pki_admin", "verifier", "auditor"}, func(t *testing.T) (string, any) {
			return "/certificates/" + issue(t, "argus"), nil
		}},
		"POST /certificates/{serial}/revoke": {[]string{"pki_admin"}, func(t *testing.T) (string, any) {
			return "/certificates/" + issue(t, "argus") + "/revoke", RevokeRequest{Reason: "superseded"}
		}},
		"POST /certificates/revoke-all": {[]string{"pki_admin"}, fixed("/certificates/revoke-all", RevokeAllRequest{Profile: "covina", Reason: "superseded"})},
		"GET /profiles":                 {everyRole, fixed("/profiles", nil)},
		"GET /profiles/{name}":          {everyRole, fixed("/profiles/argus", nil)},
		"GET /credentials/eab":          {[]string{"pki_admin"}, fixed("/credentials/eab", nil)},
		"POST /credentials/eab":         {[]string{"pki_admin"}, fixed("/credentials/eab", map[string]string{"service": "argus"})},
		"DELETE /credentials/eab/{kid}": {[]string{"pki_admin"}, func(t *testing.T) (string, any) {
			kid, _, err := acme.CreateEABKey(context.Background(), testStore, "", "argus", "test", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			return "/credentials/eab/" + kid, nil
		}},
		"GET /credentials/est-users": {[]string{"pki_admin"}, fixed("/credentials/est-users", nil)},
		"POST /credentials/est-users": {[]string{"pki_admin"}, func(*testing.T) (string, any) {
			return "/credentials/est-users", map[string]string{"service": "argus", "user": "u" + uniq()}
		}},
		"DELETE /credentials/est-users/{user}": {[]string{"pki_admin"}, func(t *testing.T) (string, any) {
			user := "u" + uniq()
			if err := est.AddUser(context.Background(), testStore, "", "argus", user, "a-long-password-1", "test", time.Now()); err != nil {
				t.Fatal(err)
			}
			return "/credentials/est-users/" + user, nil
		}},
		"POST /credentials/delete-all":        {[]string{"pki_admin"}, fixed("/credentials/delete-all", DeleteCredentialsRequest{Service: "scraper"})},
		"GET /fleet/services":                 {[]string{"pki_admin"}, fixed("/fleet/services", nil)},
		"GET /fleet/services/{name}":          {[]string{"pki_admin"}, fixed("/fleet/services/argus", nil)},
		"POST /fleet/discoveries":             {[]string{"pki_admin"}, fixed("/fleet/discoveries", nil)},
		"POST /fleet/services/{name}/reissue": {[]string{"pki_admin"}, fixed("/fleet/services/clara/reissue", ReissueRequest{Reason: "superseded"})},
		"GET /audit":                          {[]string{"auditor"}, fixed("/audit?limit=3", nil)},
		"GET /audit/verify":                   {[]string{"pki_admin", "auditor"}, fixed("/audit/verify", nil)},
		"GET /audit/export":                   {[]string{"auditor"}, fixed("/audit/export?action=approval.request", nil)},
		"GET /tsa/tokens":                     {[]string{"pki_admin", "auditor"}, fixed("/tsa/tokens?serial=1", nil)},
		"GET /approvals":                      {[]string{"pki_admin"}, fixed("/approvals", nil)},
		"GET /approvals/{id}":                 {[]string{"pki_admin"}, func(t *testing.T) (string, any) { return "/approvals/" + pendingBy(t, "someone"), nil }},
		"POST /approvals/{id}":                {[]string{"pki_admin"}, func(t *testing.T) (string, any) { return "/approvals/" + pendingBy(t, "someone"), nil }},
		"POST /approvals/{id}/deny":           {[]string{"pki_admin"}, func(t *testing.T) (string, any) { return "/approvals/" + pendingBy(t, "someone") + "/deny", nil }},
		"POST /sign":                          {[]string{"code_signer"}, func(*testing.T) (string, any) { return "/sign", signRequest() }},
		"POST /signatures": {[]string{"code_signer"}, func(t *testing.T) (string, any) {
			return "/signatures", RegisterRequest{ArtifactType: "file", Name: "f-" + uniq(), Bundle: clientBundle(t)}
		}},
		"GET /signatures":      {[]string{"code_signer", "verifier", "auditor"}, fixed("/signatures?limit=2", nil)},
		"GET /signatures/{id}": {[]string{"code_signer", "verifier", "auditor"}, func(t *testing.T) (string, any) { return "/signatures/" + registered(t), nil }},
		"POST /organisations": {[]string{"pki_admin"}, func(*testing.T) (string, any) {
			return "/organisations", CreateOrganisationRequest{Name: "o" + uniq(), Display: "Test organisation"}
		}},
		"GET /organisations":        {[]string{"pki_admin", "auditor"}, fixed("/organisations", nil)},
		"GET /organisations/{name}": {[]string{"pki_admin", "auditor"}, fixed("/organisations/vcc", nil)},
		"POST /cas/{name}/rollover": {[]string{"pki_admin"}, fixed("/cas/code-signing/rollover", CARolloverRequest{})},
		"POST /organisations/{name}/cas": {[]string{"pki_admin"}, func(t *testing.T) (string, any) {
			setupOrgs(t) // akme owns code-signing: giving it again changes nothing
			return "/organisations/akme/cas", AddOrganisationCARequest{CA: ca.CodeSigningCA}
		}},
	}
}

// pendingBy stores a pending approval requested by another caller: one
// that revokes the certificates of a profile no test issues from.
func pendingBy(t *testing.T, who string) string {
	t.Helper()
	now := testClock.Now().UTC()
	a := store.Approval{ID: "apr-test-" + uniq(), Action: ActRevokeAll, Params: []byte(`{"profile":"veritas","reason":"superseded"}`),
		RequestedBy: who, RequesterID: "test " + who, RequestedAt: now, ExpiresAt: now.Add(time.Hour), Status: store.ApprovalPending}
	if err := testStore.CreateApproval(context.Background(), a, store.AuditEvent{Time: now, Actor: who, Action: "approval.request", Object: a.ID, Result: "test"}); err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// TestAuthorization walks every endpoint × every role: allowed roles get
// 2xx, every other role (and a caller with no role) 403 with the
// forbidden problem; without credentials 401. Every route of the server
// has a case, and names the permission the document says.
func TestAuthorization(t *testing.T) {
	c := newClient(t, testSrv)
	cases := endpointCases()
	callers := map[string]string{"pki_admin": admin, "code_signer": signer, "verifier": verif, "auditor": auditor, "no role": noRole}
	for _, rt := range testAPI.routes {
		key := rt.method + " " + rt.path
		if rt.perm == "" {
			continue
		}
		if op := testDoc.Paths.Find(rt.path).GetOperation(rt.method); op == nil || op.Extensions["x-permission"] != string(rt.perm) {
			t.Errorf("%s: the document does not name permission %s", key, rt.perm)
		}
		tc, ok := cases[key]
		if !ok {
			t.Errorf("%s has no case in the authorization table", key)
			continue
		}
		for _, role := range append(slices.Clone(everyRole), "no role") {
			allowed := slices.Contains(tc.allowed, role)
			name := key + " as " + role
			t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
				path, body := tc.req(t)
				r := c.do(callers[role], rt.method, path, body)
				switch {
				case allowed && (r.StatusCode < 200 || r.StatusCode > 299):
					t.Errorf("%s: %d %s, want 2xx", name, r.StatusCode, r.body)
				case !allowed && r.StatusCode != http.StatusForbidden:
					t.Errorf("%s: %d, want 403", name, r.StatusCode)
				case !allowed && r.problem(t).Type != ProblemBase+ProbForbidden:
					t.Errorf("%s: problem %s, want forbidden", name, r.problem(t).Type)
				}
			})
		}
		t.Run(strings.ReplaceAll(key+" anonymous", "/", "_"), func(t *testing.T) {
			path, body := tc.req(t)
			r := c.do("", rt.method, path, body)
			if r.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("anonymous: %d WWW-Authenticate %q, want 401 Bearer", r.StatusCode, r.Header.Get("WWW-Authenticate"))
			}
		})
	}
	for key := range cases {
		if !slices.ContainsFunc(testAPI.routes, func(rt route) bool { return rt.method+" "+rt.path == key }) {
			t.Errorf("case %s names no route", key)
		}
	}
}
