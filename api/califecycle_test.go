package api

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"slices"
	"testing"

	"github.com/vcc/vccpki/store"
)

// TestCALifecycleDualControl: POST /cas and POST /cas/{name}/revoke store
// a pending approval and change nothing; the requester cannot approve; a
// second pki_admin's approval creates the CA (name constraints and path
// length in GET /cas/{name}) and revokes it (status revoked, on the
// parent's CRL).
func TestCALifecycleDualControl(t *testing.T) {
	c := newClient(t, testSrv)
	name := "org-" + uniq()
	a := requestApproval(t, c, admin, "/cas", CreateCARequest{Name: name, Parent: "root", PathLen: 0,
		PermittedDNS: []string{".org.example"}, ExcludedIP: []string{"10.0.0.0/8"}, Validity: "2y"})
	if r := c.do(admin, "GET", "/cas/"+name, nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("before approval: GET /cas/%s: %d", name, r.StatusCode)
	}
	if r := c.do(admin, "POST", "/approvals/"+a.ID, nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("self-approval: %d", r.StatusCode)
	}
	approve := func(id string) Approval {
		t.Helper()
		r := c.do(admin2, "POST", "/approvals/"+id, nil)
		var done Approval
		r.decode(t, &done)
		if r.StatusCode != http.StatusOK || done.Status != store.ApprovalExecuted {
			t.Fatalf("approval: %d %s", r.StatusCode, r.body)
		}
		return done
	}
	approve(a.ID)
	var v CA
	r := c.do(auditor, "GET", "/cas/"+name, nil)
	r.decode(t, &v)
	if r.StatusCode != http.StatusOK || v.Status != "valid" || v.Parent != "root" || v.PathLen == nil || *v.PathLen != 0 ||
		!slices.Equal(v.PermittedDNS, []string{".org.example"}) || !slices.Equal(v.ExcludedIP, []string{"10.0.0.0/8"}) {
		t.Fatalf("GET /cas/%s: %d %+v", name, r.StatusCode, v)
	}

	a = requestApproval(t, c, admin, "/cas/"+name+"/revoke", CARevokeRequest{Reason: "cACompromise"})
	r = c.do(auditor, "GET", "/cas/"+name, nil)
	if r.decode(t, &v); v.Status != "valid" {
		t.Fatalf("before approval: status %s", v.Status)
	}
	approve(a.ID)
	r = c.do(auditor, "GET", "/cas?role=intermediate&limit=1000", nil)
	var page Page[CA]
	r.decode(t, &page)
	i := slices.IndexFunc(page.Items, func(x CA) bool { return x.Name == name })
	if i < 0 || page.Items[i].Status != "revoked" || page.Items[i].RevocationReason != "cACompromise" || page.Items[i].RevokedAt == nil {
		t.Fatalf("GET /cas: %+v", page.Items)
	}
	r = c.do(auditor, "GET", "/cas/root/crl", nil)
	crl, err := x509.ParseRevocationList(r.body)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(v.Certificate))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(crl.RevokedCertificateEntries, func(e x509.RevocationListEntry) bool { return e.SerialNumber.Cmp(cert.SerialNumber) == 0 }) {
		t.Fatal("the root's CRL does not list the revoked CA")
	}
	if r := c.do(admin, "POST", "/cas", CreateCARequest{Name: "below-" + uniq(), Parent: name}); r.StatusCode != http.StatusConflict || r.problem(t).Type != ProblemBase+ProbConflict {
		t.Fatalf("a CA below a revoked CA: %d %s", r.StatusCode, r.body)
	}
}
