package auth

import "testing"

func TestRolesAllow(t *testing.T) {
	for _, tc := range []struct {
		name  string
		roles []string
		perm  Permission
		want  bool
	}{
		{"pki_admin revokes certificates", []string{"pki_admin"}, CertRevoke, true},
		{"pki_admin creates CAs", []string{"pki_admin"}, CACreate, true},
		{"pki_admin does not read the audit log", []string{"pki_admin"}, AuditRead, false},
		{"auditor reads the audit log", []string{"auditor"}, AuditRead, true},
		{"auditor cannot revoke", []string{"auditor"}, CertRevoke, false},
		{"code_signer signs", []string{"code_signer"}, SignArtifact, true},
		{"code_signer requests certificates", []string{"code_signer"}, CertRequest, true},
		{"code_signer cannot issue for others", []string{"code_signer"}, CertIssue, false},
		{"verifier verifies", []string{"verifier"}, VerifyArtifact, true},
		{"verifier reads certificates", []string{"verifier"}, CertRead, true},
		{"an unknown role grants nothing", []string{"root"}, CertRead, false},
		{"no role grants nothing", nil, ProfileRead, false},
		{"two roles add up", []string{"verifier", "auditor"}, AuditRead, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DefaultRoles.Allows(&Principal{Roles: tc.roles}, tc.perm); got != tc.want {
				t.Errorf("Allows(%v, %s) = %v, want %v", tc.roles, tc.perm, got, tc.want)
			}
		})
	}
	if DefaultRoles.Allows(nil, CertRead) {
		t.Error("a nil principal was allowed")
	}
}
