package api

import (
	"context"
	"net/http"
	"testing"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/store"
)

// TestCARolloverDualControl: POST /cas/{name}/rollover stores a pending
// approval and changes nothing (same serial, key and generation 1); the
// requester cannot approve; a second pki_admin's approval gives the CA a
// new subject key identifier and generation 2, with generation 1 listed
// as retired in GET /cas/{name}.
func TestCARolloverDualControl(t *testing.T) {
	c := newClient(t, testSrv)
	name := "roll-" + uniq()
	if _, err := testEngine.CreateCA(context.Background(), ca.CreateCARequest{Name: name, Parent: "root"}, "test"); err != nil {
		t.Fatal(err)
	}
	get := func() CA {
		t.Helper()
		var v CA
		r := c.do(auditor, "GET", "/cas/"+name, nil)
		if r.decode(t, &v); r.StatusCode != http.StatusOK {
			t.Fatalf("GET /cas/%s: %d %s", name, r.StatusCode, r.body)
		}
		return v
	}
	before := get()
	if before.Generation != 1 || len(before.RetiredGenerations) != 0 || before.SubjectKeyID == "" {
		t.Fatalf("a new CA: generation %d, retired %v, SKI %q", before.Generation, before.RetiredGenerations, before.SubjectKeyID)
	}
	a := requestApproval(t, c, admin, "/cas/"+name+"/rollover", CARolloverRequest{Key: "ecdsa-p384"})
	if a.Action != ActCARollover {
		t.Fatalf("action %s", a.Action)
	}
	if v := get(); v.Serial != before.Serial || v.SubjectKeyID != before.SubjectKeyID || v.Generation != 1 {
		t.Fatalf("before approval the CA changed: %+v", v)
	}
	if r := c.do(admin, "POST", "/approvals/"+a.ID, nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("self-approval: %d %s", r.StatusCode, r.body)
	}
	if v := get(); v.Generation != 1 {
		t.Fatalf("after a refused self-approval: generation %d", v.Generation)
	}
	r := c.do(admin2, "POST", "/approvals/"+a.ID, nil)
	var done Approval
	if r.decode(t, &done); r.StatusCode != http.StatusOK || done.Status != store.ApprovalExecuted {
		t.Fatalf("approval: %d %s", r.StatusCode, r.body)
	}
	after := get()
	if after.Generation != 2 || after.SubjectKeyID == before.SubjectKeyID || after.Serial == before.Serial || after.Subject != before.Subject {
		t.Fatalf("after approval: %+v; before %+v", after, before)
	}
	if len(after.RetiredGenerations) != 1 {
		t.Fatalf("retired generations %+v", after.RetiredGenerations)
	}
	if g := after.RetiredGenerations[0]; g.Generation != 1 || g.SubjectKeyID != before.SubjectKeyID || g.Serial != before.Serial || g.RetiredAt.IsZero() {
		t.Fatalf("retired generation %+v; the first was %+v", g, before)
	}
}

// TestCARolloverRefused: the checks made before a request is filed.
func TestCARolloverRefused(t *testing.T) {
	c := newClient(t, testSrv)
	ctx := context.Background()
	revoked := "gone-" + uniq()
	if _, err := testEngine.CreateCA(ctx, ca.CreateCARequest{Name: revoked, Parent: "root"}, "test"); err != nil {
		t.Fatal(err)
	}
	if err := testEngine.RevokeCA(ctx, ca.RevokeCARequest{Name: revoked, Reason: ca.CessationOfOperation}, "test"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		body       any
		status     int
		typ        string
	}{
		{"unknown CA", "/cas/nope/rollover", CARolloverRequest{}, 404, ProbNotFound},
		{"the root", "/cas/root/rollover", CARolloverRequest{}, 409, ProbConflict},
		{"a revoked CA", "/cas/" + revoked + "/rollover", CARolloverRequest{}, 409, ProbConflict},
		{"an OCSP responder", "/cas/" + ca.OCSPResponderName(ca.ServicesCA) + "/rollover", CARolloverRequest{}, 404, ProbNotFound},
		{"bad key type", "/cas/services/rollover", CARolloverRequest{Key: "dsa-512"}, 400, ProbMalformed},
		{"unknown field", "/cas/services/rollover", map[string]string{"name": "x"}, 400, ProbMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(admin, "POST", tc.path, tc.body)
			if r.StatusCode != tc.status || r.problem(t).Type != ProblemBase+tc.typ {
				t.Fatalf("%d %s; want %d %s", r.StatusCode, r.body, tc.status, tc.typ)
			}
		})
	}
}
