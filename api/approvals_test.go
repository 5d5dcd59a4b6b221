package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
)

// auditEntries returns the entries about object (an approval ID), and
// those whose action is one of actions when given.
func auditEntries(t *testing.T, object string) []store.AuditEntry {
	t.Helper()
	var out []store.AuditEntry
	err := testStore.WalkAudit(context.Background(), func(e store.AuditEntry) error {
		if e.Object == object {
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func actions(es []store.AuditEntry) string {
	var s []string
	for _, e := range es {
		s = append(s, e.Actor+" "+e.Action)
	}
	return strings.Join(s, "; ")
}

// requestApproval asks for an act as who and returns the approval.
func requestApproval(t *testing.T, c *client, who, path string, body any) Approval {
	t.Helper()
	r := c.do(who, "POST", path, body)
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("POST %s: %d %s, want 202", path, r.StatusCode, r.body)
	}
	var a Approval
	r.decode(t, &a)
	if loc := r.Header.Get("Location"); loc != Prefix+"/approvals/"+a.ID || a.Status != store.ApprovalPending {
		t.Fatalf("Location %q, approval %+v; want a pending approval at its URL", loc, a)
	}
	return a
}

func certStatus(t *testing.T, c *client, serial string) string {
	t.Helper()
	var v Certificate
	c.do(auditor, "GET", "/certificates/"+serial, nil).decode(t, &v)
	return v.Status
}

// TestDualControlRevokeAll: revoking every certificate of a profile waits
// for a second pki_admin: the requester and a caller without
// approval:decide are refused, the second admin executes it, a second
// approval is a conflict, and both steps are in the audit log.
func TestDualControlRevokeAll(t *testing.T) {
	c := newClient(t, testSrv)
	serials := []string{issue(t, "scraper"), issue(t, "scraper")}
	other := issue(t, "argus")
	a := requestApproval(t, c, admin, "/certificates/revoke-all", RevokeAllRequest{Profile: "scraper", Reason: "keyCompromise"})
	for _, s := range serials {
		if st := certStatus(t, c, s); st != "valid" {
			t.Fatalf("%s is %s before approval", s, st)
		}
	}
	steps := []struct {
		name, who string
		status    int
		problem   string
	}{
		{"the requester may not approve", admin, 403, ProbForbidden},
		{"an auditor may not approve", auditor, 403, ProbForbidden},
		{"a second pki_admin executes", admin2, 200, ""},
		{"approved twice", admin2, 409, ProbConflict},
	}
	for _, st := range steps {
		r := c.do(st.who, "POST", "/approvals/"+a.ID, nil)
		if r.StatusCode != st.status {
			t.Fatalf("%s: %d %s, want %d", st.name, r.StatusCode, r.body, st.status)
		}
		if st.problem != "" && r.problem(t).Type != ProblemBase+st.problem {
			t.Errorf("%s: problem %s", st.name, r.body)
		}
		if st.status == 200 {
			var done Approval
			r.decode(t, &done)
			if done.Status != store.ApprovalExecuted || !strings.Contains(done.Result, "2 certificates revoked") || done.DecidedBy == "" {
				t.Errorf("%s: %+v", st.name, done)
			}
		}
	}
	for _, s := range serials {
		if st := certStatus(t, c, s); st != "revoked" {
			t.Errorf("%s is %s after approval, want revoked", s, st)
		}
	}
	if st := certStatus(t, c, other); st != "valid" {
		t.Errorf("a certificate of another profile is %s", st)
	}
	es := auditEntries(t, a.ID)
	want := []string{"sub-alice (alice) approval.request", "sub-bob (bob) approval.approve", "sub-bob (bob) approval.execute"}
	got := actions(es)
	for _, w := range want {
		if !strings.Contains(got, "oidc:"+w) {
			t.Errorf("audit of %s: %s; missing %s", a.ID, got, w)
		}
	}
}

// TestDualControlExpiry: an approval past its TTL is refused with 410 and
// marked expired (audited); it cannot be approved afterwards.
func TestDualControlExpiry(t *testing.T) {
	c := newClient(t, testSrv)
	serial := issue(t, "covina")
	a := requestApproval(t, c, admin, "/certificates/revoke-all", RevokeAllRequest{Profile: "covina", Reason: "superseded"})
	testClock.advance(25 * time.Hour) // the default TTL is 24h
	r := c.do(admin2, "POST", "/approvals/"+a.ID, nil)
	if r.StatusCode != http.StatusGone || r.problem(t).Type != ProblemBase+ProbExpired {
		t.Fatalf("approving after the TTL: %d %s, want 410 expired", r.StatusCode, r.body)
	}
	if r := c.do(admin2, "POST", "/approvals/"+a.ID, nil); r.StatusCode != http.StatusConflict {
		t.Errorf("approving an expired approval again: %d, want 409", r.StatusCode)
	}
	var got Approval
	c.do(admin, "GET", "/approvals/"+a.ID, nil).decode(t, &got)
	if got.Status != store.ApprovalExpired {
		t.Errorf("status %s, want expired", got.Status)
	}
	if st := certStatus(t, c, serial); st != "valid" {
		t.Errorf("the certificate is %s: an expired approval must do nothing", st)
	}
	if es := actions(auditEntries(t, a.ID)); !strings.Contains(es, "approval.request") || !strings.Contains(es, "approval.expire") {
		t.Errorf("audit of %s: %s", a.ID, es)
	}
}

// TestDualControlCredentialsAndReissue: bulk credential deletion and fleet
// reissue wait for approval too, then act.
func TestDualControlCredentialsAndReissue(t *testing.T) {
	c := newClient(t, testSrv)
	r := c.do(admin, "POST", "/credentials/eab", map[string]string{"service": "aat"})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("creating an EAB key: %d %s", r.StatusCode, r.body)
	}
	var key NewEABKey
	r.decode(t, &key)
	a := requestApproval(t, c, admin, "/credentials/delete-all", DeleteCredentialsRequest{Service: "aat"})
	var page Page[EABKey]
	c.do(admin, "GET", "/credentials/eab?service=aat", nil).decode(t, &page)
	if len(page.Items) != 1 {
		t.Fatalf("before approval: %d keys, want 1", len(page.Items))
	}
	if r := c.do(admin2, "POST", "/approvals/"+a.ID, nil); r.StatusCode != 200 {
		t.Fatalf("approving: %d %s", r.StatusCode, r.body)
	}
	page = Page[EABKey]{}
	c.do(admin, "GET", "/credentials/eab?service=aat", nil).decode(t, &page)
	if len(page.Items) != 0 {
		t.Errorf("after approval: %d keys, want 0", len(page.Items))
	}

	// clara's certificates (profile clara) are revoked by a reissue.
	b := requestApproval(t, c, admin2, "/fleet/services/clara/reissue", ReissueRequest{})
	if r := c.do(admin2, "POST", "/approvals/"+b.ID, nil); r.StatusCode != http.StatusForbidden {
		t.Errorf("self-approval of a reissue: %d, want 403", r.StatusCode)
	}
	r = c.do(admin, "POST", "/approvals/"+b.ID, nil)
	var done Approval
	r.decode(t, &done)
	if r.StatusCode != 200 || done.Status != store.ApprovalExecuted || !strings.Contains(done.Result, "service clara") {
		t.Errorf("approving the reissue: %d %+v", r.StatusCode, done)
	}
}

// TestSelfApprovalOtherName: the requester is recognised by issuer and
// subject, not by the display name their token carries this time.
func TestSelfApprovalOtherName(t *testing.T) {
	c := newClient(t, testSrv)
	a := requestApproval(t, c, admin, "/certificates/revoke-all", RevokeAllRequest{Profile: "veritas", Reason: "superseded"})
	r := c.do(admin, "POST", "/approvals/"+a.ID, nil)
	if r.StatusCode != http.StatusForbidden {
		t.Fatalf("self-approval: %d", r.StatusCode)
	}
	// The same subject (sub-alice) under another preferred_username.
	r = c.doHeader("", "POST", "/approvals/"+a.ID, nil, http.Header{"X-Test-Principal": {"alice:pki_admin"}, "X-Test-Name": {"Alice Smith"}})
	if r.StatusCode != http.StatusForbidden {
		t.Errorf("self-approval under another name: %d, want 403", r.StatusCode)
	}
}

// TestDualControlDeny: a denied request never runs and cannot be approved
// afterwards; the requester may withdraw their own; both audited.
func TestDualControlDeny(t *testing.T) {
	c := newClient(t, testSrv)
	serial := issue(t, "covina")
	cases := []struct {
		name, denier, actor string
		result              string
	}{
		{"a second pki_admin denies", admin2, "oidc:sub-bob (bob)", "denied by oidc:sub-bob (bob)"},
		{"the requester withdraws", admin, "oidc:sub-alice (alice)", "withdrawn by its requester oidc:sub-alice (alice)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := requestApproval(t, c, admin, "/certificates/revoke-all", RevokeAllRequest{Profile: "covina", Reason: "superseded"})
			if r := c.do(auditor, "POST", "/approvals/"+a.ID+"/deny", nil); r.StatusCode != http.StatusForbidden {
				t.Errorf("an auditor denies: %d, want 403", r.StatusCode)
			}
			r := c.do(tc.denier, "POST", "/approvals/"+a.ID+"/deny", nil)
			var got Approval
			r.decode(t, &got)
			if r.StatusCode != 200 || got.Status != store.ApprovalDenied || got.Result != tc.result || got.DecidedAt == nil {
				t.Fatalf("deny: %d %+v", r.StatusCode, got)
			}
			for _, path := range []string{"/approvals/" + a.ID, "/approvals/" + a.ID + "/deny"} {
				r := c.do(admin2, "POST", path, nil)
				if r.StatusCode != http.StatusConflict || r.problem(t).Detail != "approval "+a.ID+" is denied, not pending" {
					t.Errorf("POST %s after denial: %d %s, want 409", path, r.StatusCode, r.body)
				}
			}
			if st := certStatus(t, c, serial); st != "valid" {
				t.Errorf("the certificate is %s: a denied approval must do nothing", st)
			}
			if es := actions(auditEntries(t, a.ID)); !strings.Contains(es, "approval.request") || !strings.Contains(es, tc.actor+" approval.deny") {
				t.Errorf("audit of %s: %s", a.ID, es)
			}
		})
	}
	var page Page[Approval]
	c.do(admin, "GET", "/approvals?status=denied", nil).decode(t, &page)
	if len(page.Items) < 2 {
		t.Errorf("status=denied lists %d", len(page.Items))
	}
}
