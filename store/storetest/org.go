package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/vcc/vccpki/store"
)

// RunOrganisations runs the contract suite of store.OrgStore and of the
// org columns it brings (EAB keys, EST users, ACME accounts, audit
// entries, the certificate scope). open must return a new, empty store.
func RunOrganisations(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"OperatorExists", testOrgOperatorExists},
		{"CreateAndList", testOrgCreateAndList},
		{"CreateDuplicate", testOrgCreateDuplicate},
		{"AddCA", testOrgAddCA},
		{"CertificateScope", testOrgCertificateScope},
		{"AuditScope", testOrgAuditScope},
		{"CredentialsCarryOrg", testOrgCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func orgEvent(action, object string) store.AuditEvent {
	return store.AuditEvent{Time: base, Actor: "operator:test", Action: action, Object: object, Result: "ok"}
}

func createOrg(t *testing.T, s store.Store, name string) {
	t.Helper()
	o := store.Organisation{Name: name, Display: "Org " + name, CreatedAt: base, CreatedBy: "operator:test"}
	if err := s.CreateOrganisation(t.Context(), o, orgEvent("org.create", name)); err != nil {
		t.Fatal(err)
	}
}

func testOrgOperatorExists(t *testing.T, s store.Store) {
	o, err := s.Organisation(t.Context(), store.OperatorOrg)
	if err != nil {
		t.Fatalf("the migration must create the operator organisation: %v", err)
	}
	if o.Name != store.OperatorOrg || len(o.CAs) != 0 {
		t.Errorf("operator = %+v", o)
	}
	if owner, err := s.CAOrganisation(t.Context(), "services"); err != nil || owner != store.OperatorOrg {
		t.Errorf("CAOrganisation(services) = %q, %v; want the operator for an unclaimed CA", owner, err)
	}
}

func testOrgCreateAndList(t *testing.T, s store.Store) {
	ctx := t.Context()
	createOrg(t, s, "brandenburg")
	createOrg(t, s, "akme")
	all, err := s.Organisations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range all {
		names = append(names, o.Name)
	}
	if want := []string{"akme", "brandenburg", "vcc"}; !slices.Equal(names, want) {
		t.Errorf("Organisations = %v; want %v", names, want)
	}
	got, err := s.Organisation(ctx, "brandenburg")
	if err != nil {
		t.Fatal(err)
	}
	if got.Display != "Org brandenburg" || !got.CreatedAt.Equal(base) || got.CreatedBy != "operator:test" {
		t.Errorf("Organisation = %+v", got)
	}
	if _, err := s.Organisation(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown organisation: %v; want ErrNotFound", err)
	}
	var creates int
	_ = s.AuditEntries(ctx, store.AuditFilter{Action: "org.create"}, func(store.AuditEntry) error { creates++; return nil })
	if creates != 2 {
		t.Errorf("%d org.create audit entries; want 2", creates)
	}
}

func testOrgCreateDuplicate(t *testing.T, s store.Store) {
	createOrg(t, s, "akme")
	err := s.CreateOrganisation(t.Context(), store.Organisation{Name: "akme", Display: "again", CreatedAt: base, CreatedBy: "x"}, orgEvent("org.create", "akme"))
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second create: %v; want ErrConflict", err)
	}
	if o, _ := s.Organisation(t.Context(), "akme"); o.Display != "Org akme" {
		t.Errorf("the refused create changed the organisation: %+v", o)
	}
}

func testOrgAddCA(t *testing.T, s store.Store) {
	ctx := t.Context()
	createOrg(t, s, "akme")
	createOrg(t, s, "bravo")
	if err := s.AddOrganisationCA(ctx, "akme", "ext-akme", orgEvent("org.add-ca", "akme")); err != nil {
		t.Fatal(err)
	}
	if err := s.AddOrganisationCA(ctx, "akme", "ext-akme", orgEvent("org.add-ca", "akme")); err != nil {
		t.Errorf("adding a CA again to its owner: %v; want no error", err)
	}
	if err := s.AddOrganisationCA(ctx, "bravo", "ext-akme", orgEvent("org.add-ca", "bravo")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("claiming another organisation's CA: %v; want ErrConflict", err)
	}
	if err := s.AddOrganisationCA(ctx, "nope", "ext-x", orgEvent("org.add-ca", "nope")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown organisation: %v; want ErrNotFound", err)
	}
	o, err := s.Organisation(ctx, "akme")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.CAs, []string{"ext-akme"}) {
		t.Errorf("akme CAs = %v", o.CAs)
	}
	if b, _ := s.Organisation(ctx, "bravo"); len(b.CAs) != 0 {
		t.Errorf("bravo CAs = %v; want none", b.CAs)
	}
	if owner, err := s.CAOrganisation(ctx, "ext-akme"); err != nil || owner != "akme" {
		t.Errorf("CAOrganisation = %q, %v", owner, err)
	}
	var adds int
	_ = s.AuditEntries(ctx, store.AuditFilter{Action: "org.add-ca"}, func(store.AuditEntry) error { adds++; return nil })
	if adds != 2 {
		t.Errorf("%d org.add-ca audit entries; want 2 (the refused ones are not written)", adds)
	}
}

func testOrgCertificateScope(t *testing.T, s store.Store) {
	ctx := t.Context()
	createOrg(t, s, "akme")
	if err := s.AddOrganisationCA(ctx, "akme", "ext-akme", orgEvent("org.add-ca", "akme")); err != nil {
		t.Fatal(err)
	}
	for i, issuer := range []string{"services", "ext-akme", "codesigning"} {
		c := Cert(Serial(i), issuer, "p", day(0), day(30))
		if err := s.InsertCertificate(ctx, c, orgEvent("issue", c.Serial)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, org string
		want      []string
	}{
		{"unscoped", "", []string{Serial(0), Serial(1), Serial(2)}},
		{"partner", "akme", []string{Serial(1)}},
		{"operator owns the unclaimed CAs", store.OperatorOrg, []string{Serial(0), Serial(2)}},
		{"organisation without CAs", "bravo", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := s.Certificates(ctx, store.CertFilter{Org: tc.org})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cs {
				got = append(got, c.Serial)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Certificates(Org %q) = %v; want %v", tc.org, got, tc.want)
			}
		})
	}
}

func testOrgAuditScope(t *testing.T, s store.Store) {
	ctx := t.Context()
	events := []store.AuditEvent{
		orgEvent("issue", "1"),
		{Time: base, Actor: "acme:a", Action: "issue", Object: "2", Result: "ok", Org: "akme"},
		{Time: base, Actor: "acme:b", Action: "issue", Object: "3", Result: "ok", Org: store.OperatorOrg},
	}
	for _, ev := range events {
		if err := s.AppendAudit(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	objects := func(org string) []string {
		var out []string
		if err := s.AuditEntries(ctx, store.AuditFilter{Org: org}, func(e store.AuditEntry) error {
			out = append(out, e.Object+"@"+e.Org)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got, want := objects("akme"), []string{"2@akme"}; !slices.Equal(got, want) {
		t.Errorf("akme's entries = %v; want %v", got, want)
	}
	if got, want := objects(store.OperatorOrg), []string{"1@vcc", "3@vcc"}; !slices.Equal(got, want) {
		t.Errorf("operator's entries = %v; want %v (an empty org is the operator)", got, want)
	}
	// The org is chained: the stored entries verify, and a partner entry's
	// hash differs from the same event's under the operator.
	if n, err := store.VerifyAudit(ctx, s); err != nil || n != 3 {
		t.Errorf("VerifyAudit = %d, %v", n, err)
	}
	a, b := events[1], events[1]
	b.Org = ""
	if string(store.ChainHash(2, store.ZeroHash, a)) == string(store.ChainHash(2, store.ZeroHash, b)) {
		t.Error("a partner's org is not part of the chain hash")
	}
}

func testOrgCredentials(t *testing.T, s store.Store) {
	ctx := t.Context()
	createOrg(t, s, "akme")
	if err := s.CreateEABKey(ctx, store.EABKey{KeyID: "k-akme", HMAC: []byte("0123456789abcdef0123456789abcdef"), Service: "web", CreatedAt: base, Org: "akme"}, orgEvent("eab.create", "k-akme")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEABKey(ctx, store.EABKey{KeyID: "k-vcc", HMAC: []byte("0123456789abcdef0123456789abcdef"), Service: "argus", CreatedAt: base}, orgEvent("eab.create", "k-vcc")); err != nil {
		t.Fatal(err)
	}
	if k, err := s.EABKey(ctx, "k-akme"); err != nil || k.Org != "akme" {
		t.Errorf("EABKey(k-akme) org = %q, %v; want akme", k.Org, err)
	}
	if k, err := s.EABKey(ctx, "k-vcc"); err != nil || k.Org != store.OperatorOrg {
		t.Errorf("EABKey(k-vcc) org = %q, %v; want the operator", k.Org, err)
	}
	keys, err := s.EABKeys(ctx)
	if err != nil || len(keys) != 2 || keys[0].Org == keys[1].Org {
		t.Errorf("EABKeys = %+v, %v; want both orgs", keys, err)
	}
	if err := s.AddESTUser(ctx, store.ESTUser{User: "dev-akme", Service: "web", Hash: "$argon2id$x", CreatedAt: base, Org: "akme"}, orgEvent("est.user.add", "dev-akme")); err != nil {
		t.Fatal(err)
	}
	if u, err := s.ESTUser(ctx, "dev-akme"); err != nil || u.Org != "akme" {
		t.Errorf("ESTUser org = %q, %v; want akme", u.Org, err)
	}
	if us, err := s.ESTUsers(ctx); err != nil || len(us) != 1 || us[0].Org != "akme" {
		t.Errorf("ESTUsers = %+v, %v", us, err)
	}
	acct := store.ACMEAccount{ID: "acct-akme", Thumbprint: "tp-akme", JWK: []byte(`{}`), Status: "valid", EABKeyID: "k-akme", Service: "web", CreatedAt: base, Org: "akme"}
	if err := s.CreateAccount(ctx, acct, orgEvent("acme.account", "acct-akme")); err != nil {
		t.Fatal(err)
	}
	if a, err := s.Account(ctx, "acct-akme"); err != nil || a.Org != "akme" {
		t.Errorf("Account org = %q, %v; want akme", a.Org, err)
	}
	if a, err := s.AccountByKey(ctx, "tp-akme"); err != nil || a.Org != "akme" {
		t.Errorf("AccountByKey org = %q, %v; want akme", a.Org, err)
	}
}
