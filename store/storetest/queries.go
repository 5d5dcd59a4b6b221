package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
)

// testCertificatesQuery: the API's certificate search runs in the query
// (name, revocation, expiry window) and pages with the keyset cursor.
func testCertificatesQuery(t *testing.T, s store.Store) {
	a := Cert("0a", "services", "argus", day(-10), day(10))
	b := Cert("0b", "services", "clara", day(-1), day(5))
	c := Cert("0c", "codesign", "argus", day(1), day(30))
	d := Cert("0d", "services", "argus", day(-40), day(-5))
	e := Cert("0e", "services", "argus", day(-3), day(10))
	e.Subject, e.Names = "Build Server", []string{"Build_01.VCC.internal", "10.0.0.7", `odd"name\`}
	mustInsert(t, s, e, c, a, d, b)
	if err := s.Revoke(ctx(t), b.Serial, day(0), 1, ev("revoke", b.Serial)); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	tests := []struct {
		name string
		f    store.CertFilter
		want []string
	}{
		{"name in the subject", store.CertFilter{Name: "0a.vcc"}, []string{"0a"}},
		{"name ignores ASCII case", store.CertFilter{Name: "BUILD SERVER"}, []string{"0e"}},
		{"name in a SAN", store.CertFilter{Name: "build_01.vcc"}, []string{"0e"}},
		{"name: an IP address", store.CertFilter{Name: "10.0.0.7"}, []string{"0e"}},
		{"name: LIKE wildcards are literal", store.CertFilter{Name: "0_.vcc"}, nil},
		{"name: percent is literal", store.CertFilter{Name: "%"}, nil},
		{"name: quote and backslash", store.CertFilter{Name: `odd"name\`}, []string{"0e"}},
		{"name never spans two SANs", store.CertFilter{Name: `internal","10`}, nil},
		{"name shared", store.CertFilter{Name: "vcc"}, []string{"0d", "0b", "0a", "0e", "0c"}},
		{"revoked", store.CertFilter{Revoked: &yes}, []string{"0b"}},
		{"not revoked", store.CertFilter{Revoked: &no}, []string{"0d", "0a", "0e", "0c"}},
		{"not revoked, valid at", store.CertFilter{Revoked: &no, ValidAt: day(0)}, []string{"0a", "0e"}},
		{"expiring after, inclusive", store.CertFilter{ExpiringAfter: day(10)}, []string{"0a", "0e", "0c"}},
		{"expiry window", store.CertFilter{ExpiringAfter: day(0), ExpiringBefore: day(11)}, []string{"0b", "0a", "0e"}},
		{"window and cursor", store.CertFilter{ExpiringAfter: day(0), After: &a}, []string{"0e", "0c"}},
		{"every filter", store.CertFilter{Name: "argus", Profile: "argus", Revoked: &no, ExpiringAfter: day(0), Limit: 1}, nil},
		{"every filter, a match", store.CertFilter{Name: "0c", Profile: "argus", Issuer: "codesign", Revoked: &no, ExpiringAfter: day(0), Limit: 1}, []string{"0c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Certificates(ctx(t), tc.f)
			if err != nil {
				t.Fatalf("Certificates(%+v): %v", tc.f, err)
			}
			if !slices.Equal(serials(got), tc.want) {
				t.Errorf("Certificates(%+v) = %v, want %v", tc.f, serials(got), tc.want)
			}
		})
	}
	// Paging by the cursor visits each certificate once, in order.
	var all []string
	f := store.CertFilter{Limit: 2}
	for {
		page, err := s.Certificates(ctx(t), f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, serials(page)...)
		if len(page) < f.Limit {
			break
		}
		f.After = &page[len(page)-1]
	}
	if want := []string{"0d", "0b", "0a", "0e", "0c"}; !slices.Equal(all, want) {
		t.Errorf("paged by 2: %v, want %v", all, want)
	}
}

// testAuditEntries: the audit query filters and pages in the store.
func testAuditEntries(t *testing.T, s store.Store) {
	events := []store.AuditEvent{
		{Time: base, Actor: "system", Action: "init", Object: "root", Result: "ok"},
		{Time: base.Add(time.Minute), Actor: "api oidc:alice", Action: "api.call", Object: "GET /api/v1/certificates", Result: "200"},
		{Time: base.Add(2 * time.Minute), Actor: "api oidc:bob", Action: "api.call", Object: "POST /api/v1/certificates/0a/revoke", Result: "403 forbidden"},
		{Time: base.Add(3 * time.Minute), Actor: "api oidc:alice", Action: "revoke", Object: "0a", Result: "ok"},
		{Time: base.Add(4 * time.Minute), Actor: "api oidc:alice", Action: "api.call", Object: "GET /api/v1/audit?object=100%_x", Result: "200"},
	}
	for _, e := range events {
		if err := s.AppendAudit(ctx(t), e); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		f    store.AuditFilter
		want []int64
	}{
		{"all", store.AuditFilter{}, []int64{1, 2, 3, 4, 5}},
		{"actor", store.AuditFilter{Actor: "api oidc:alice"}, []int64{2, 4, 5}},
		{"actor is exact", store.AuditFilter{Actor: "alice"}, nil},
		{"action", store.AuditFilter{Action: "api.call"}, []int64{2, 3, 5}},
		{"object contained", store.AuditFilter{Object: "/certificates"}, []int64{2, 3}},
		{"object ignores ASCII case", store.AuditFilter{Object: "REVOKE"}, []int64{3}},
		{"object: LIKE wildcards are literal", store.AuditFilter{Object: "100%_x"}, []int64{5}},
		{"object: underscore is literal", store.AuditFilter{Object: "0_"}, nil},
		{"since inclusive", store.AuditFilter{Since: base.Add(time.Minute)}, []int64{2, 3, 4, 5}},
		{"until exclusive", store.AuditFilter{Until: base.Add(2 * time.Minute)}, []int64{1, 2}},
		{"cursor", store.AuditFilter{AfterSeq: 3}, []int64{4, 5}},
		{"limit", store.AuditFilter{Action: "api.call", Limit: 2}, []int64{2, 3}},
		{"everything", store.AuditFilter{Actor: "api oidc:alice", Action: "api.call", Object: "api", Since: base, Until: base.Add(time.Hour), AfterSeq: 2, Limit: 5}, []int64{5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []int64
			err := s.AuditEntries(ctx(t), tc.f, func(e store.AuditEntry) error {
				got = append(got, e.Seq)
				if e.Seq > 0 && e.Object != events[e.Seq-1].Object {
					t.Errorf("entry %d: object %q", e.Seq, e.Object)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("AuditEntries(%+v) = %v, want %v", tc.f, got, tc.want)
			}
		})
	}
	verifyAudit(t, s, int64(len(events)))
}

// testNameSearch: the name search is a case-insensitive substring match
// on the subject and on each name, whatever the needle's length (stores
// answer three characters or more from an index, shorter ones by a scan),
// with no query syntax of its own; certificates inserted or revoked later
// are found as well.
func testNameSearch(t *testing.T, s store.Store) {
	a := Cert("1a", "services", "argus", day(-1), day(1))
	a.Subject, a.Names = "Alpha Gateway", []string{"api.alpha.example.test", "Ünïcode.example.test"}
	b := Cert("1b", "services", "argus", day(-1), day(2))
	b.Subject, b.Names = "Beta", []string{"beta.example.test", `we"ird*name OR x`}
	mustInsert(t, s, a, b)
	if err := s.Revoke(ctx(t), b.Serial, day(0), 1, ev("revoke", b.Serial)); err != nil {
		t.Fatal(err)
	}
	c := Cert("1c", "codesign", "clara", day(-1), day(3))
	c.Subject, c.Names = "Gamma", []string{"gamma.example.test"}
	mustInsert(t, s, c) // after the others: kept in step with the index
	tests := []struct {
		name, needle string
		want         []string
	}{
		{"three characters, mid-word", "pha", []string{"1a"}},
		{"case ignored", "ALPHA.EX", []string{"1a"}},
		{"subject", "lpha gat", []string{"1a"}},
		{"shared by all", "example.test", []string{"1a", "1b", "1c"}},
		{"the revoked one", "beta.ex", []string{"1b"}},
		{"inserted last", "amma.exa", []string{"1c"}},
		{"two characters", "mm", []string{"1c"}},
		{"two characters, case ignored", "GA", []string{"1a", "1c"}},
		{"one character", "z", nil},
		{"absent", "delta", nil},
		{"not across subject and name", "Gatewayapi", nil},
		{"a quote", `we"ird`, []string{"1b"}},
		{"a star is literal", "ird*na", []string{"1b"}},
		{"a star is not a prefix", "alp*", nil},
		{"OR is a word", "name OR x", []string{"1b"}},
		{"OR is not an operator", "zzz OR alpha", nil},
		{"non-ASCII", "Ünïcode", []string{"1a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Certificates(ctx(t), store.CertFilter{Name: tc.needle, ExpiringAfter: day(-1)})
			if err != nil {
				t.Fatalf("name %q: %v", tc.needle, err)
			}
			if !slices.Equal(serials(got), tc.want) {
				t.Errorf("name %q: %v, want %v", tc.needle, serials(got), tc.want)
			}
		})
	}
}
