// Package storetest is the contract test suite every store.Store
// implementation runs, so that SQLite and PostgreSQL behave alike.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
)

// Run runs the contract suite. open must return a new, empty store for each
// call and close it when the test ends (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"InsertGetRoundTrip", testInsertGetRoundTrip},
		{"DuplicateSerial", testDuplicateSerial},
		{"UnknownSerial", testUnknownSerial},
		{"CertificatesFilters", testCertificatesFilters},
		{"CertificatesQuery", testCertificatesQuery},
		{"NameSearch", testNameSearch},
		{"AuditEntries", testAuditEntries},
		{"Revoke", testRevoke},
		{"RevokeTwice", testRevokeTwice},
		{"RevokeUnknown", testRevokeUnknown},
		{"RevokedCertificates", testRevokedCertificates},
		{"RevokedCertificatesStops", testRevokedCertificatesStops},
		{"NextCRLNumber", testNextCRLNumber},
		{"NextCRLNumberConcurrent", testNextCRLNumberConcurrent},
		{"AuditChain", testAuditChain},
		{"AuditFromWrites", testAuditFromWrites},
		{"WalkAuditStops", testWalkAuditStops},
		{"CreateHierarchy", testCreateHierarchy},
		{"CreateHierarchyTwice", testCreateHierarchyTwice},
		{"CreateHierarchyRace", testCreateHierarchyRace},
		{"PutCAReplaces", testPutCAReplaces},
		{"CAsOrder", testCAsOrder},
		{"KeyNotFound", testKeyNotFound},
		{"Settings", testSettings},
		{"AdoptSettingRace", testAdoptSettingRace},
		{"ConcurrentInserts", testConcurrentInserts},
		{"AddCAs", testAddCAs},
		{"RevokeCA", testRevokeCA},
		{"RolloverCA", testRolloverCA},
		{"RolloverCALink", testRolloverCALink},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// base has nanoseconds on purpose: stores must keep full precision.
var base = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func day(n int) time.Time { return base.Add(time.Duration(n) * 24 * time.Hour) }

// Serial returns a well-formed serial (lowercase hex of whole bytes, no
// leading zero byte) distinct for each i >= 0.
func Serial(i int) string { return fmt.Sprintf("%08x", 0x10000000+i) }

// DER returns n random bytes standing in for a certificate.
func DER(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// Cert returns a valid certificate record for tests and benchmarks.
func Cert(serial, issuer, profile string, notBefore, notAfter time.Time) store.Certificate {
	return store.Certificate{
		Serial: serial, Issuer: issuer, Profile: profile,
		Requester: "operator:test", Subject: serial + ".vcc.internal",
		Names:     []string{serial + ".vcc.internal"},
		NotBefore: notBefore, NotAfter: notAfter,
		DER: DER(64),
	}
}

func ev(action, object string) store.AuditEvent {
	return store.AuditEvent{Actor: "operator:test", Action: action, Object: object, Result: "ok"}
}

func ctx(t *testing.T) context.Context { return t.Context() }

func mustInsert(t *testing.T, s store.Store, cs ...store.Certificate) {
	t.Helper()
	for _, c := range cs {
		if err := s.InsertCertificate(ctx(t), c, ev("issue", c.Serial)); err != nil {
			t.Fatalf("InsertCertificate(%s): %v", c.Serial, err)
		}
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func serials(cs []store.Certificate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Serial)
	}
	return out
}

func equalCert(t *testing.T, got, want store.Certificate) {
	t.Helper()
	check := func(field string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("%s: %s differs:\n got  %+v\n want %+v", want.Serial, field, got, want)
		}
	}
	check("Serial", got.Serial == want.Serial)
	check("Issuer", got.Issuer == want.Issuer)
	check("Profile", got.Profile == want.Profile)
	check("Requester", got.Requester == want.Requester)
	check("Subject", got.Subject == want.Subject)
	check("Names", slices.Equal(got.Names, want.Names))
	check("NotBefore", got.NotBefore.Equal(want.NotBefore))
	check("NotAfter", got.NotAfter.Equal(want.NotAfter))
	check("DER", bytes.Equal(got.DER, want.DER))
	check("CRLShard", got.CRLShard == want.CRLShard)
	check("RevokedAt", got.RevokedAt.Equal(want.RevokedAt))
	check("RevocationReason", got.RevocationReason == want.RevocationReason)
}

func testInsertGetRoundTrip(t *testing.T, s store.Store) {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800) // stores must not depend on the caller's zone
	full := store.Certificate{
		Serial:           "7f3a9c01d2",
		Issuer:           "services",
		Profile:          "argus",
		Requester:        "acme:https://ca.vcc.internal/acme/acct/1",
		Subject:          "argus.vcc.internal",
		Names:            []string{"argus.vcc.internal", "*.argus.vcc.internal", "10.0.0.7", "ünïcode.example"},
		NotBefore:        day(-1).In(zone),
		NotAfter:         day(90).Add(987654321).In(zone),
		DER:              DER(1100),
		CRLShard:         7,
		RevokedAt:        day(3).Add(1),
		RevocationReason: 4,
	}
	plain := Cert("0102", "codesign", "clara", day(0), day(1))
	plain.Names = nil
	mustInsert(t, s, full, plain)
	for _, want := range []store.Certificate{full, plain} {
		got, err := s.Certificate(ctx(t), want.Serial)
		if err != nil {
			t.Fatalf("Certificate(%s): %v", want.Serial, err)
		}
		equalCert(t, got, want)
	}
}

func testDuplicateSerial(t *testing.T, s store.Store) {
	first := Cert(Serial(1), "services", "argus", day(0), day(10))
	mustInsert(t, s, first)
	dup := Cert(Serial(1), "codesign", "clara", day(0), day(20))
	wantErr(t, "second insert", s.InsertCertificate(ctx(t), dup, ev("issue", dup.Serial)), store.ErrConflict)
	got, err := s.Certificate(ctx(t), first.Serial)
	if err != nil {
		t.Fatal(err)
	}
	equalCert(t, got, first)
	// The refused write must not have left its audit entry behind.
	verifyAudit(t, s, 1)
}

func testUnknownSerial(t *testing.T, s store.Store) {
	mustInsert(t, s, Cert(Serial(1), "services", "argus", day(0), day(10)))
	_, err := s.Certificate(ctx(t), Serial(2))
	wantErr(t, "Certificate(unknown)", err, store.ErrNotFound)
}

func testCertificatesFilters(t *testing.T, s store.Store) {
	// Inserted out of order; a and e share NotAfter so serial breaks the tie.
	a := Cert("0a", "services", "argus", day(-10), day(10))
	b := Cert("0b", "services", "clara", day(-1), day(5))
	c := Cert("0c", "codesign", "argus", day(1), day(30))
	d := Cert("0d", "services", "argus", day(-40), day(-5))
	e := Cert("0e", "services", "argus", day(-3), day(10))
	mustInsert(t, s, e, c, a, d, b)

	tests := []struct {
		name string
		f    store.CertFilter
		want []string
	}{
		{"all", store.CertFilter{}, []string{"0d", "0b", "0a", "0e", "0c"}},
		{"profile", store.CertFilter{Profile: "argus"}, []string{"0d", "0a", "0e", "0c"}},
		{"issuer", store.CertFilter{Issuer: "codesign"}, []string{"0c"}},
		{"profile+issuer", store.CertFilter{Profile: "argus", Issuer: "services"}, []string{"0d", "0a", "0e"}},
		{"expiring before", store.CertFilter{ExpiringBefore: day(10)}, []string{"0d", "0b"}},
		{"expiring before, inclusive edge", store.CertFilter{ExpiringBefore: day(10).Add(1)}, []string{"0d", "0b", "0a", "0e"}},
		{"valid at", store.CertFilter{ValidAt: day(0)}, []string{"0b", "0a", "0e"}},
		{"valid at NotBefore", store.CertFilter{ValidAt: day(1)}, []string{"0b", "0a", "0e", "0c"}},
		{"valid at NotAfter excluded", store.CertFilter{ValidAt: day(5)}, []string{"0a", "0e", "0c"}},
		{"limit", store.CertFilter{Limit: 2}, []string{"0d", "0b"}},
		{"limit with filter", store.CertFilter{Profile: "argus", Limit: 3}, []string{"0d", "0a", "0e"}},
		{"limit above count", store.CertFilter{Issuer: "codesign", Limit: 10}, []string{"0c"}},
		{"no match", store.CertFilter{Profile: "nope"}, nil},
		{"far future", store.CertFilter{ExpiringBefore: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)}, []string{"0d", "0b", "0a", "0e", "0c"}},
		{"page after b", store.CertFilter{After: &b, Limit: 2}, []string{"0a", "0e"}},
		{"page after a: the tie on NotAfter broken by serial", store.CertFilter{After: &a}, []string{"0e", "0c"}},
		{"page after the last", store.CertFilter{After: &c}, nil},
		{"page with a filter", store.CertFilter{Profile: "argus", After: &d}, []string{"0a", "0e", "0c"}},
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
	got, err := s.Certificates(ctx(t), store.CertFilter{Issuer: "codesign"})
	if err != nil || len(got) != 1 {
		t.Fatalf("Certificates(codesign) = %v, %v", got, err)
	}
	equalCert(t, got[0], c)
}

func testRevoke(t *testing.T, s store.Store) {
	c := Cert(Serial(1), "services", "argus", day(0), day(10))
	mustInsert(t, s, c)
	at := day(2).Add(42)
	if err := s.Revoke(ctx(t), c.Serial, at, 1, ev("revoke", c.Serial)); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	got, err := s.Certificate(ctx(t), c.Serial)
	if err != nil {
		t.Fatal(err)
	}
	c.RevokedAt, c.RevocationReason = at, 1
	equalCert(t, got, c)
	verifyAudit(t, s, 2)
}

func testRevokeTwice(t *testing.T, s store.Store) {
	c := Cert(Serial(1), "services", "argus", day(0), day(10))
	mustInsert(t, s, c)
	if err := s.Revoke(ctx(t), c.Serial, day(1), 1, ev("revoke", c.Serial)); err != nil {
		t.Fatal(err)
	}
	err := s.Revoke(ctx(t), c.Serial, day(2), 4, ev("revoke", c.Serial))
	wantErr(t, "second Revoke", err, store.ErrConflict)
	got, err := s.Certificate(ctx(t), c.Serial)
	if err != nil {
		t.Fatal(err)
	}
	if !got.RevokedAt.Equal(day(1)) || got.RevocationReason != 1 {
		t.Errorf("second Revoke changed the revocation: %v reason %d", got.RevokedAt, got.RevocationReason)
	}
	verifyAudit(t, s, 2)
}

func testRevokeUnknown(t *testing.T, s store.Store) {
	err := s.Revoke(ctx(t), Serial(9), day(1), 0, ev("revoke", Serial(9)))
	wantErr(t, "Revoke(unknown)", err, store.ErrNotFound)
	verifyAudit(t, s, 0)
}

func testRevokedCertificates(t *testing.T, s store.Store) {
	want := []store.Revoked{}
	for i, issuer := range []string{"services", "codesign", "services", "services", "codesign", "services", "services"} {
		// Serials inserted in descending order so that insertion order is not serial order.
		c := Cert(Serial(100-i), issuer, "argus", day(0), day(10+i))
		mustInsert(t, s, c)
		if i == 1 || i == 2 || i == 4 || i == 5 || i == 6 {
			at := day(i).Add(time.Duration(i))
			if err := s.Revoke(ctx(t), c.Serial, at, i, ev("revoke", c.Serial)); err != nil {
				t.Fatal(err)
			}
			if issuer == "services" {
				want = append(want, store.Revoked{Serial: c.Serial, RevokedAt: at, Reason: i, NotAfter: c.NotAfter})
			}
		}
	}
	slices.Reverse(want)
	var got []store.Revoked
	err := s.RevokedCertificates(ctx(t), "services", func(r store.Revoked) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatalf("RevokedCertificates: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("RevokedCertificates: got %d entries %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Serial != w.Serial || !g.RevokedAt.Equal(w.RevokedAt) || g.Reason != w.Reason || !g.NotAfter.Equal(w.NotAfter) {
			t.Errorf("entry %d: got %+v, want %+v", i, g, w)
		}
	}
	n := 0
	if err := s.RevokedCertificates(ctx(t), "nobody", func(store.Revoked) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("RevokedCertificates(nobody): %d entries, %v", n, err)
	}
}

func testRevokedCertificatesStops(t *testing.T, s store.Store) {
	for i := range 5 {
		c := Cert(Serial(i), "services", "argus", day(0), day(10))
		mustInsert(t, s, c)
		if err := s.Revoke(ctx(t), c.Serial, day(1), 0, ev("revoke", c.Serial)); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("stop here")
	calls := 0
	err := s.RevokedCertificates(ctx(t), "services", func(store.Revoked) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	wantErr(t, "RevokedCertificates with failing fn", err, stop)
	if calls != 2 {
		t.Errorf("fn called %d times after returning an error at call 2", calls)
	}
}
