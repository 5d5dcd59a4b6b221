package storetest

import (
	"bytes"
	"sort"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
)

// RunSharedOCSP runs the contract suite of store.SharedOCSPStore. open
// must return a new, empty store for each call.
func RunSharedOCSP(t *testing.T, open func(t *testing.T) store.SharedOCSPStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.SharedOCSPStore)
	}{
		{"RoundTrip", testSharedOCSPRoundTrip},
		{"NewerWins", testSharedOCSPNewerWins},
		{"RevocationIsFinal", testSharedOCSPRevocationFinal},
		{"Prune", testSharedOCSPPrune},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func sharedResp(serial string, this time.Time, revoked bool) store.SharedOCSP {
	r := store.SharedOCSP{Issuer: "services", Hash: "sha1", Serial: serial, ProducedAt: this, ThisUpdate: this,
		NextUpdate: this.Add(24 * time.Hour), Signed: DER(200)}
	if revoked {
		r.Revoked, r.RevokedAt, r.Reason = true, this.Add(-time.Minute), 1
	}
	return r
}

func lookup(t *testing.T, s store.SharedOCSPStore, issuer, hash string, serials ...string) map[string]store.SharedOCSP {
	t.Helper()
	rs, err := s.OCSPResponses(ctx(t), issuer, hash, serials)
	if err != nil {
		t.Fatalf("OCSPResponses: %v", err)
	}
	out := map[string]store.SharedOCSP{}
	for _, r := range rs {
		if _, dup := out[r.Serial]; dup {
			t.Fatalf("serial %s returned twice", r.Serial)
		}
		out[r.Serial] = r
	}
	return out
}

func equalShared(t *testing.T, got, want store.SharedOCSP) {
	t.Helper()
	if got.Issuer != want.Issuer || got.Hash != want.Hash || got.Serial != want.Serial || got.Revoked != want.Revoked ||
		!got.RevokedAt.Equal(want.RevokedAt) || got.Reason != want.Reason || !got.ProducedAt.Equal(want.ProducedAt) ||
		!got.ThisUpdate.Equal(want.ThisUpdate) || !got.NextUpdate.Equal(want.NextUpdate) || !bytes.Equal(got.Signed, want.Signed) {
		t.Fatalf("response differs:\n got  %+v\n want %+v", got, want)
	}
}

func testSharedOCSPRoundTrip(t *testing.T, s store.SharedOCSPStore) {
	a, b := sharedResp("0a", base, false), sharedResp("0b", base, true)
	other := sharedResp("0a", base, false)
	other.Hash = "sha256"
	elsewhere := sharedResp("0a", base, false)
	elsewhere.Issuer = "code-signing"
	if err := s.PutOCSPResponses(ctx(t), []store.SharedOCSP{a, b, other, elsewhere}); err != nil {
		t.Fatal(err)
	}
	got := lookup(t, s, "services", "sha1", "0a", "0b", "0c")
	if len(got) != 2 {
		t.Fatalf("got %d responses, want 2", len(got))
	}
	equalShared(t, got["0a"], a)
	equalShared(t, got["0b"], b)
	equalShared(t, lookup(t, s, "services", "sha256", "0a")["0a"], other)
	equalShared(t, lookup(t, s, "code-signing", "sha1", "0a")["0a"], elsewhere)
	if n := len(lookup(t, s, "services", "sha1")); n != 0 {
		t.Errorf("lookup of no serials: %d responses", n)
	}
	// Many serials at once, as a pre-signing pass asks.
	var many []store.SharedOCSP
	var serials []string
	for i := range 300 {
		many = append(many, sharedResp(Serial(i), base, false))
		serials = append(serials, Serial(i))
	}
	if err := s.PutOCSPResponses(ctx(t), many); err != nil {
		t.Fatal(err)
	}
	got = lookup(t, s, "services", "sha1", serials...)
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) != 300 || keys[0] != Serial(0) || keys[299] != Serial(299) {
		t.Fatalf("got %d of 300 responses", len(keys))
	}
}

func testSharedOCSPNewerWins(t *testing.T, s store.SharedOCSPStore) {
	older, newer := sharedResp("0a", base, false), sharedResp("0a", base.Add(time.Hour), false)
	if err := s.PutOCSPResponses(ctx(t), []store.SharedOCSP{newer}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutOCSPResponses(ctx(t), []store.SharedOCSP{older}); err != nil {
		t.Fatal(err)
	}
	equalShared(t, lookup(t, s, "services", "sha1", "0a")["0a"], newer)
	newest := sharedResp("0a", base.Add(2*time.Hour), false)
	if err := s.PutOCSPResponses(ctx(t), []store.SharedOCSP{newest}); err != nil {
		t.Fatal(err)
	}
	equalShared(t, lookup(t, s, "services", "sha1", "0a")["0a"], newest)
}

func testSharedOCSPRevocationFinal(t *testing.T, s store.SharedOCSPStore) {
	revoked := sharedResp("0a", base, true)
	if err := s.PutOCSPResponses(ctx(t), []store.SharedOCSP{revoked}); err != nil {
		t.Fatal(err)
	}
	// A pre-signing pass that read the status before the revocation and
	// stores its good response later must not undo it.
	late := sharedResp("0a", base.Add(time.Hour), false)
	if err := s.PutOCSPResponses(ctx(t), []store.SharedOCSP{late}); err != nil {
		t.Fatal(err)
	}
	equalShared(t, lookup(t, s, "services", "sha1", "0a")["0a"], revoked)
	// A revocation replaces a good response signed in the same second
	// (responses carry whole seconds).
	good, sameSecond := sharedResp("0b", base, false), sharedResp("0b", base, true)
	if err := s.PutOCSPResponses(ctx(t), []store.SharedOCSP{good}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutOCSPResponses(ctx(t), []store.SharedOCSP{sameSecond}); err != nil {
		t.Fatal(err)
	}
	equalShared(t, lookup(t, s, "services", "sha1", "0b")["0b"], sameSecond)
	again := sharedResp("0a", base.Add(2*time.Hour), true)
	if err := s.PutOCSPResponses(ctx(t), []store.SharedOCSP{again}); err != nil {
		t.Fatal(err)
	}
	equalShared(t, lookup(t, s, "services", "sha1", "0a")["0a"], again)
}

func testSharedOCSPPrune(t *testing.T, s store.SharedOCSPStore) {
	old, cur := sharedResp("0a", base.Add(-48*time.Hour), false), sharedResp("0b", base, false)
	if err := s.PutOCSPResponses(ctx(t), []store.SharedOCSP{old, cur}); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneOCSPResponses(ctx(t), base)
	if err != nil || n != 1 {
		t.Fatalf("PruneOCSPResponses = %d, %v; want 1", n, err)
	}
	if got := lookup(t, s, "services", "sha1", "0a", "0b"); len(got) != 1 || got["0b"].Serial != "0b" {
		t.Fatalf("after pruning: %+v", got)
	}
}
