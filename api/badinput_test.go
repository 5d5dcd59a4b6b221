package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/est"

	"github.com/vcc/vccpki/store"
)

// snapshot is the state bad input must not change: certificates and
// their revocation, credentials, approvals, and the audit log apart from
// the API's own call entries and the engine's records of refusals.
type snapshot struct {
	certs, revoked, eab, estUsers, approvals, sigs int
	audit                                          []string
}

func takeSnapshot(t *testing.T) snapshot {
	t.Helper()
	ctx := context.Background()
	var s snapshot
	certs, err := testStore.Certificates(ctx, store.CertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	s.certs = len(certs)
	for _, c := range certs {
		if !c.RevokedAt.IsZero() {
			s.revoked++
		}
	}
	keys, err := testStore.EABKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	users, err := testStore.ESTUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	apr, err := testStore.Approvals(ctx, store.ApprovalFilter{})
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := testStore.Signatures(ctx, store.SignatureFilter{})
	if err != nil {
		t.Fatal(err)
	}
	s.eab, s.estUsers, s.approvals, s.sigs = len(keys), len(users), len(apr), len(sigs)
	err = testStore.WalkAudit(ctx, func(e store.AuditEntry) error {
		if e.Action != "api.call" && !strings.HasSuffix(e.Action, ".refused") {
			s.audit = append(s.audit, e.Action+" "+e.Object)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s snapshot) equal(o snapshot) bool {
	return s.certs == o.certs && s.revoked == o.revoked && s.eab == o.eab && s.estUsers == o.estUsers &&
		s.approvals == o.approvals && s.sigs == o.sigs && slices.Equal(s.audit, o.audit)
}

// TestBadInput: each bad request gets its exact status and problem type,
// and changes nothing.
func TestBadInput(t *testing.T) {
	c := newClient(t, testSrv)
	serial := issue(t, "argus")
	revoked := issue(t, "argus")
	if r := c.do(admin, "POST", "/certificates/"+revoked+"/revoke", RevokeRequest{Reason: "keyCompromise"}); r.StatusCode != 200 {
		t.Fatalf("revoking: %d %s", r.StatusCode, r.body)
	}
	existing := "u" + uniq()
	if err := est.AddUser(context.Background(), testStore, "", "argus", existing, "a-long-password-1", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	otherCursor := encodeCursor(cursor{Kind: "profiles", Offset: 1})
	huge := IssueRequest{Profile: "argus", CSR: strings.Repeat("A", MaxBody)}
	tests := []struct {
		name, who, method, path string
		body                    any
		status                  int
		problem                 string
	}{
		// certificates
		{"certificates bad cursor", auditor, "GET", "/certificates?cursor=not-a-cursor", nil, 400, ProbBadCursor},
		{"certificates cursor of another listing", auditor, "GET", "/certificates?cursor=" + otherCursor, nil, 400, ProbBadCursor},
		{"certificates bad limit", auditor, "GET", "/certificates?limit=0", nil, 400, ProbMalformed},
		{"certificates bad status", auditor, "GET", "/certificates?status=sleeping", nil, 400, ProbMalformed},
		{"certificates bad expiry", auditor, "GET", "/certificates?expires_before=tomorrow", nil, 400, ProbMalformed},
		{"certificates unknown profile", auditor, "GET", "/certificates?profile=nope", nil, 400, ProbUnknownProfile},
		{"certificates bad serial in search", auditor, "GET", "/certificates?serial=xyz", nil, 400, ProbBadSerial},
		{"certificate bad serial", auditor, "GET", "/certificates/not-hex", nil, 400, ProbBadSerial},
		{"certificate unknown serial", auditor, "GET", "/certificates/0badc0ffee", nil, 404, ProbNotFound},
		{"revoke bad reason", admin, "POST", "/certificates/" + serial + "/revoke", RevokeRequest{Reason: "bored"}, 400, ProbBadReason},
		{"revoke certificateHold", admin, "POST", "/certificates/" + serial + "/revoke", RevokeRequest{Reason: "certificateHold"}, 400, ProbBadReason},
		{"revoke bad serial", admin, "POST", "/certificates/zz/revoke", RevokeRequest{Reason: "superseded"}, 400, ProbBadSerial},
		{"revoke unknown serial", admin, "POST", "/certificates/0badc0ffee/revoke", RevokeRequest{Reason: "superseded"}, 404, ProbNotFound},
		{"revoke twice", admin, "POST", "/certificates/" + revoked + "/revoke", RevokeRequest{Reason: "superseded"}, 409, ProbConflict},
		{"revoke unknown field", admin, "POST", "/certificates/" + serial + "/revoke", map[string]string{"reason": "superseded", "why": "x"}, 400, ProbMalformed},
		{"revoke not JSON", admin, "POST", "/certificates/" + serial + "/revoke", "reason=superseded", 400, ProbMalformed},
		{"issue unknown profile", admin, "POST", "/certificates", IssueRequest{Profile: "nope", CSR: newCSR(t, "x.argus.vcc.internal")}, 400, ProbUnknownProfile},
		{"issue oversize body", admin, "POST", "/certificates", huge, 413, ProbTooLarge},
		{"issue no CSR", admin, "POST", "/certificates", IssueRequest{Profile: "argus"}, 400, ProbBadCSR},
		{"issue garbage CSR", admin, "POST", "/certificates", IssueRequest{Profile: "argus", CSR: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}, 400, ProbMalformed},
		{"issue name outside the profile", admin, "POST", "/certificates", IssueRequest{Profile: "argus", CSR: newCSR(t, "evil.example.com")}, 400, ProbRejected},
		{"revoke-all neither issuer nor profile", admin, "POST", "/certificates/revoke-all", RevokeAllRequest{Reason: "superseded"}, 400, ProbMalformed},
		{"revoke-all not an issuer", admin, "POST", "/certificates/revoke-all", RevokeAllRequest{Issuer: "root", Reason: "superseded"}, 400, ProbMalformed},
		{"revoke-all bad reason", admin, "POST", "/certificates/revoke-all", RevokeAllRequest{Profile: "argus", Reason: "bored"}, 400, ProbBadReason},
		{"revoke-all unknown profile", admin, "POST", "/certificates/revoke-all", RevokeAllRequest{Profile: "nope", Reason: "superseded"}, 400, ProbUnknownProfile},
		// cas and profiles
		{"ca create bad name", admin, "POST", "/cas", CreateCARequest{Name: "Bad_Name", Parent: "root"}, 400, ProbMalformed},
		{"ca create unknown parent", admin, "POST", "/cas", CreateCARequest{Name: "orphan", Parent: "nope"}, 404, ProbNotFound},
		{"ca create bad CIDR", admin, "POST", "/cas", CreateCARequest{Name: "cidr", Parent: "root", PermittedIP: []string{"10.0.0.1/8"}}, 400, ProbMalformed},
		{"ca create bad validity", admin, "POST", "/cas", CreateCARequest{Name: "val", Parent: "root", Validity: "forever"}, 400, ProbMalformed},
		{"ca create existing name", admin, "POST", "/cas", CreateCARequest{Name: "services", Parent: "root"}, 409, ProbConflict},
		{"ca revoke bad reason", admin, "POST", "/cas/services/revoke", CARevokeRequest{Reason: "certificateHold"}, 400, ProbBadReason},
		{"ca revoke unknown", admin, "POST", "/cas/nope/revoke", CARevokeRequest{Reason: "superseded"}, 404, ProbNotFound},
		{"ca revoke the root", admin, "POST", "/cas/root/revoke", CARevokeRequest{Reason: "superseded"}, 409, ProbConflict},
		{"ca unknown", auditor, "GET", "/cas/nope", nil, 404, ProbNotFound},
		{"crl of a non-issuer", auditor, "GET", "/cas/tsa/crl", nil, 404, ProbNotFound},
		{"cas bad cursor", auditor, "GET", "/cas?cursor=%21%21", nil, 400, ProbBadCursor},
		{"cas cursor past the end", auditor, "GET", "/cas?cursor=" + encodeCursor(cursor{Kind: "cas", Offset: 999}), nil, 400, ProbBadCursor},
		{"profile unknown", verif, "GET", "/profiles/nope", nil, 404, ProbNotFound},
		{"profiles bad limit", verif, "GET", "/profiles?limit=100000", nil, 400, ProbMalformed},
		// credentials
		{"eab unknown profile", admin, "POST", "/credentials/eab", map[string]string{"service": "nope"}, 400, ProbUnknownProfile},
		{"eab profile not open to ACME", admin, "POST", "/credentials/eab", map[string]string{"service": "vpb"}, 400, ProbUnknownProfile},
		{"eab revoke unknown", admin, "DELETE", "/credentials/eab/kid-nope", nil, 404, ProbNotFound},
		{"eab bad cursor", admin, "GET", "/credentials/eab?cursor=abc", nil, 400, ProbBadCursor},
		{"est user bad name", admin, "POST", "/credentials/est-users", map[string]string{"service": "argus", "user": "a:b"}, 400, ProbMalformed},
		{"est user unknown profile", admin, "POST", "/credentials/est-users", map[string]string{"service": "nope", "user": "u1"}, 400, ProbUnknownProfile},
		{"est user exists", admin, "POST", "/credentials/est-users", map[string]string{"service": "argus", "user": existing}, 409, ProbConflict},
		{"est user remove unknown", admin, "DELETE", "/credentials/est-users/nobody", nil, 404, ProbNotFound},
		{"delete-all unknown profile", admin, "POST", "/credentials/delete-all", DeleteCredentialsRequest{Service: "nope"}, 400, ProbUnknownProfile},
		{"delete-all oversize", admin, "POST", "/credentials/delete-all", `{"service":"` + strings.Repeat("a", MaxBody) + `"}`, 413, ProbTooLarge},
		// fleet
		{"fleet unknown service", admin, "GET", "/fleet/services/nope", nil, 404, ProbNotFound},
		{"fleet bad filter", admin, "GET", "/fleet/services?covered=maybe", nil, 400, ProbMalformed},
		{"reissue unknown service", admin, "POST", "/fleet/services/nope/reissue", ReissueRequest{Reason: "superseded"}, 404, ProbNotFound},
		{"reissue bad reason", admin, "POST", "/fleet/services/argus/reissue", ReissueRequest{Reason: "bored"}, 400, ProbBadReason},
		// audit
		{"audit bad since", auditor, "GET", "/audit?since=yesterday", nil, 400, ProbMalformed},
		{"audit bad cursor", auditor, "GET", "/audit?cursor=" + otherCursor, nil, 400, ProbBadCursor},
		{"audit bad anchor", auditor, "GET", "/audit/verify?anchor=12", nil, 400, ProbMalformed},
		{"audit export bad until", auditor, "GET", "/audit/export?until=soon", nil, 400, ProbMalformed},
		// tsa
		{"tsa neither serial nor imprint", auditor, "GET", "/tsa/tokens", nil, 400, ProbMalformed},
		{"tsa both", auditor, "GET", "/tsa/tokens?serial=1&imprint=00", nil, 400, ProbMalformed},
		{"tsa bad serial", auditor, "GET", "/tsa/tokens?serial=-4", nil, 400, ProbBadSerial},
		{"tsa bad imprint", auditor, "GET", "/tsa/tokens?imprint=xyz", nil, 400, ProbMalformed},
		// approvals
		{"approval unknown", admin, "GET", "/approvals/apr-nope", nil, 404, ProbNotFound},
		{"approve unknown", admin, "POST", "/approvals/apr-nope", nil, 404, ProbNotFound},
		{"approvals bad status", admin, "GET", "/approvals?status=maybe", nil, 400, ProbMalformed},
		{"approvals bad cursor", admin, "GET", "/approvals?cursor=" + otherCursor, nil, 400, ProbBadCursor},
		// signing and the registry
		{"sign oversize body", signer, "POST", "/sign", `{"profile":"clara-signing","name":"` + strings.Repeat("a", DefaultMaxSignBody) + `"}`, 413, ProbTooLarge},
		{"sign bad digest", signer, "POST", "/sign", SignRequest{Profile: "clara-signing", ArtifactType: "manifest", Name: "x", Digest: "abcd"}, 400, ProbMalformed},
		{"sign digest not hex", signer, "POST", "/sign", SignRequest{Profile: "clara-signing", ArtifactType: "manifest", Name: "x", Digest: strings.Repeat("z", 64)}, 400, ProbMalformed},
		{"sign unknown profile", signer, "POST", "/sign", SignRequest{Profile: "nope", ArtifactType: "manifest", Name: "x", Digest: strings.Repeat("a", 64)}, 400, ProbUnknownProfile},
		{"sign not a signing profile", signer, "POST", "/sign", SignRequest{Profile: "argus", ArtifactType: "manifest", Name: "x", Digest: strings.Repeat("a", 64)}, 400, ProbUnknownProfile},
		{"sign digest and payload", signer, "POST", "/sign", SignRequest{Profile: "clara-signing", ArtifactType: "model", Name: "x", Digest: strings.Repeat("a", 64), Payload: []byte("{}"), PayloadType: "t"}, 400, ProbMalformed},
		{"sign neither", signer, "POST", "/sign", SignRequest{Profile: "clara-signing", ArtifactType: "model", Name: "x"}, 400, ProbMalformed},
		{"sign payload without type", signer, "POST", "/sign", SignRequest{Profile: "clara-signing", ArtifactType: "model", Name: "x", Payload: []byte("{}")}, 400, ProbMalformed},
		{"sign unknown artifact type", signer, "POST", "/sign", SignRequest{Profile: "clara-signing", ArtifactType: "virus", Name: "x", Digest: strings.Repeat("a", 64)}, 400, ProbMalformed},
		{"sign empty name", signer, "POST", "/sign", SignRequest{Profile: "clara-signing", ArtifactType: "file", Digest: strings.Repeat("a", 64)}, 400, ProbMalformed},
		{"register no bundle", signer, "POST", "/signatures", RegisterRequest{ArtifactType: "file", Name: "x"}, 400, ProbMalformed},
		{"register garbage bundle", signer, "POST", "/signatures", RegisterRequest{ArtifactType: "file", Name: "x", Bundle: []byte(`{"mediaType":"x"}`)}, 400, ProbMalformed},
		{"register oversize", signer, "POST", "/signatures", `{"artifact_type":"file","name":"x","bundle":"` + strings.Repeat("a", MaxBody) + `"}`, 413, ProbTooLarge},
		{"signature unknown", verif, "GET", "/signatures/sig-nope", nil, 404, ProbNotFound},
		{"signatures bad cursor", verif, "GET", "/signatures?cursor=" + otherCursor, nil, 400, ProbBadCursor},
		{"signatures bad limit", verif, "GET", "/signatures?limit=0", nil, 400, ProbMalformed},
		// the API itself
		{"unknown endpoint", admin, "GET", "/nope", nil, 404, ProbNotFound},
		{"wrong method", admin, "PUT", "/certificates", nil, 405, ProbMethodNotAllowed},
		{"refused credential", "!bad", "GET", "/profiles", nil, 401, ProbUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := takeSnapshot(t)
			r := c.do(tc.who, tc.method, tc.path, tc.body)
			if r.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", r.StatusCode, r.body, tc.status)
			}
			if p := r.problem(t); p.Type != ProblemBase+tc.problem || p.Status != tc.status || p.Detail == "" {
				t.Errorf("problem %+v, want type %s", p, ProblemBase+tc.problem)
			}
			if after := takeSnapshot(t); !before.equal(after) {
				t.Errorf("the store changed:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

// TestCORS: no Access-Control-* header on any answer (the test client
// checks every response), and a preflight is refused.
func TestCORS(t *testing.T) {
	c := newClient(t, testSrv)
	hdr := http.Header{"Origin": {"https://evil.example"}, "Access-Control-Request-Method": {"POST"}}
	r := c.doHeader(admin, "OPTIONS", "/certificates", nil, hdr)
	if r.StatusCode != http.StatusMethodNotAllowed || r.problem(t).Type != ProblemBase+ProbMethodNotAllowed {
		t.Errorf("preflight: %d %s, want 405 method-not-allowed", r.StatusCode, r.body)
	}
	if r := c.doHeader(auditor, "GET", "/profiles", nil, hdr); r.StatusCode != 200 {
		t.Errorf("GET with an Origin: %d", r.StatusCode)
	}
}
