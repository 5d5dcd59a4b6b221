package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/vcc/vccpki/store"
)

// RunSignatures runs the signature registry's contract.
func RunSignatures(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"RoundTripAndSearch", testSignaturesRoundTrip},
		{"DuplicateSignature", testSignaturesDuplicate},
		{"ConcurrentWithCertificates", testSignaturesConcurrent},
		{"SigningKeys", testSigningKeys},
		{"StampedSignature", testSignaturesStamped},
		{"StampedSignatureConcurrent", testSignaturesStampedConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func codeSignature(id, name, digest, sigDigest, signer string) store.CodeSignature {
	return store.CodeSignature{ID: id, ArtifactType: "model", Name: name, Digest: digest, SignatureDigest: sigDigest,
		Profile: "clara-signing", SignerSerial: signer, SignerSubject: "CN=clara", TimestampSerial: "17",
		Source: store.SignatureServer, Actor: "mtls:CN=ci", CreatedAt: base}
}

func ids(gs []store.CodeSignature) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.ID)
	}
	return out
}

// testSignaturesRoundTrip: a signature comes back as stored with its
// audit entry; the filters (digest, signature digest, name, signer) each
// narrow; After and Limit page in ID order.
func testSignaturesRoundTrip(t *testing.T, s store.Store) {
	all := []store.CodeSignature{
		codeSignature("s1", "adapter-a", "aa", "f1", "0a"),
		codeSignature("s2", "adapter-a", "bb", "f2", "0b"),
		codeSignature("s3", "adapter-b", "aa", "f3", "0a"),
	}
	for _, g := range slices.Backward(all) {
		if err := s.RecordSignature(ctx(t), g, ev("sign.register", g.ID)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Signature(ctx(t), "s2")
	if err != nil || got != all[1] {
		t.Fatalf("Signature(s2) = %+v, %v; want %+v", got, err, all[1])
	}
	if _, err := s.Signature(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown ID: %v, want ErrNotFound", err)
	}
	cases := []struct {
		name string
		f    store.SignatureFilter
		want []string
	}{
		{"all", store.SignatureFilter{}, []string{"s1", "s2", "s3"}},
		{"digest", store.SignatureFilter{Digest: "aa"}, []string{"s1", "s3"}},
		{"signature digest", store.SignatureFilter{SignatureDigest: "f2"}, []string{"s2"}},
		{"name", store.SignatureFilter{Name: "adapter-a"}, []string{"s1", "s2"}},
		{"signer", store.SignatureFilter{SignerSerial: "0a"}, []string{"s1", "s3"}},
		{"two filters", store.SignatureFilter{Digest: "aa", Name: "adapter-b"}, []string{"s3"}},
		{"no match", store.SignatureFilter{Digest: "cc"}, nil},
		{"page", store.SignatureFilter{After: "s1", Limit: 1}, []string{"s2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gs, err := s.Signatures(ctx(t), tc.f)
			if err != nil || !slices.Equal(ids(gs), tc.want) {
				t.Errorf("Signatures(%+v) = %v, %v; want %v", tc.f, ids(gs), err, tc.want)
			}
		})
	}
	verifyAudit(t, s, 3)
}

// testSignaturesDuplicate: the same signature (or ID) twice is a
// conflict, and the refused write leaves no audit entry.
func testSignaturesDuplicate(t *testing.T, s store.Store) {
	if err := s.RecordSignature(ctx(t), codeSignature("s1", "a", "aa", "f1", "0a"), ev("sign.register", "s1")); err != nil {
		t.Fatal(err)
	}
	for _, g := range []store.CodeSignature{codeSignature("s2", "a", "aa", "f1", "0a"), codeSignature("s1", "a", "aa", "f9", "0a")} {
		if err := s.RecordSignature(ctx(t), g, ev("sign.register", g.ID)); !errors.Is(err, store.ErrConflict) {
			t.Errorf("RecordSignature(%s, %s) again: %v, want ErrConflict", g.ID, g.SignatureDigest, err)
		}
	}
	verifyAudit(t, s, 1)
}

// testSignaturesConcurrent: signatures recorded at once, beside
// certificates (so that the engines' group commit mixes both in one
// transaction), are each stored with their audit entries (its own and a
// further one, as the API passes its call's); of one signature raced by
// every worker under different IDs exactly one is stored, and the refused
// ones leave no audit entry.
func testSignaturesConcurrent(t *testing.T, s store.Store) {
	const workers, each = 8, 20
	var wg sync.WaitGroup
	raced := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				n := w*each + i
				g := codeSignature(fmt.Sprintf("s%03d", n), "adapter", "aa", fmt.Sprintf("f%03d", n), "0a")
				if err := s.RecordSignature(ctx(t), g, ev("sign.server", g.ID), ev("api.call", g.ID)); err != nil {
					t.Errorf("RecordSignature(%s): %v", g.ID, err)
					return
				}
				c := Cert(Serial(n), "services", "argus", day(0), day(1))
				if err := s.InsertCertificate(ctx(t), c, ev("issue", c.Serial)); err != nil {
					t.Errorf("InsertCertificate(%s): %v", c.Serial, err)
					return
				}
				if i == each/2 {
					g := codeSignature(fmt.Sprintf("race%d", w), "adapter", "aa", "raced", "0a")
					raced[w] = s.RecordSignature(ctx(t), g, ev("sign.server", g.ID), ev("api.call", g.ID))
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	exactlyOneWins(t, "records of one signature", raced)
	got, err := s.Signatures(ctx(t), store.SignatureFilter{Limit: 1000})
	if err != nil || len(got) != workers*each+1 {
		t.Fatalf("Signatures = %d, %v; want %d", len(got), err, workers*each+1)
	}
	// Each stored signature has its entry and the further one passed with
	// it; each certificate its own.
	verifyAudit(t, s, 3*workers*each+2)
	var prev store.AuditEntry
	err = s.WalkAudit(ctx(t), func(e store.AuditEntry) error {
		if e.Action == "api.call" && (prev.Action != "sign.server" || prev.Object != e.Object) {
			t.Errorf("audit entry %d (api.call %s) follows %d (%s %s), want its signature's entry", e.Seq, e.Object, prev.Seq, prev.Action, prev.Object)
		}
		prev = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testSignaturesStamped: a signature recorded with its time-stamp's token
// record stores both and its entries; when either row is a duplicate
// (the token's serial, or the signature), the write is refused whole: the
// other row is not stored and no entry is added.
func testSignaturesStamped(t *testing.T, s store.Store) {
	g := codeSignature("s1", "a", "aa", "f1", "0a")
	if err := s.RecordStampedSignature(ctx(t), g, Token(1, "s1"), ev("sign.server", "s1"), ev("api.call", "s1")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Signature(ctx(t), "s1"); err != nil || got != g {
		t.Fatalf("Signature(s1) = %+v, %v; want %+v", got, err, g)
	}
	got, err := s.TimestampBySerial(ctx(t), 1)
	if err != nil {
		t.Fatalf("the token's record: %v", err)
	}
	equalToken(t, got, Token(1, "s1"))
	cases := []struct {
		name  string
		sig   store.CodeSignature
		token store.TimestampRecord
	}{
		{"token serial recorded already", codeSignature("s2", "a", "aa", "f2", "0a"), Token(1, "s2")},
		{"signature recorded already", codeSignature("s3", "a", "aa", "f1", "0a"), Token(3, "s3")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.RecordStampedSignature(ctx(t), tc.sig, tc.token, ev("sign.server", tc.sig.ID), ev("api.call", tc.sig.ID)); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("RecordStampedSignature: %v, want ErrConflict", err)
			}
			if _, err := s.Signature(ctx(t), tc.sig.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the refused signature %s: %v, want ErrNotFound", tc.sig.ID, err)
			}
			if tc.token.Serial != 1 {
				if _, err := s.TimestampBySerial(ctx(t), tc.token.Serial); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("the refused token %d: %v, want ErrNotFound", tc.token.Serial, err)
				}
			} else if got, err := s.TimestampBySerial(ctx(t), 1); err != nil || !bytes.Equal(got.Imprint, Token(1, "s1").Imprint) {
				t.Errorf("token 1 after the refusal = %+v, %v; want the first one's", got, err)
			}
		})
	}
	verifyAudit(t, s, 2)
}

// testSignaturesStampedConcurrent: stamped signatures recorded at once
// share transactions (group commit); among them, some whose token serial
// is taken fail alone, leaving neither their signature nor an entry,
// while the others are stored whole.
func testSignaturesStampedConcurrent(t *testing.T, s store.Store) {
	if err := s.RecordStampedSignature(ctx(t), codeSignature("s0", "a", "aa", "f0", "0a"), Token(1, "s0"), ev("sign.server", "s0")); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				n := w*each + i
				g := codeSignature(fmt.Sprintf("s%03d", n+1), "adapter", "aa", fmt.Sprintf("f%03d", n+1), "0a")
				if err := s.RecordStampedSignature(ctx(t), g, Token(int64(n+2), g.ID), ev("sign.server", g.ID), ev("api.call", g.ID)); err != nil {
					t.Errorf("RecordStampedSignature(%s): %v", g.ID, err)
				}
				if i == each/2 {
					dup := codeSignature(fmt.Sprintf("dup%d", w), "adapter", "aa", fmt.Sprintf("dup%d", w), "0a")
					if err := s.RecordStampedSignature(ctx(t), dup, Token(1, dup.ID), ev("sign.server", dup.ID), ev("api.call", dup.ID)); !errors.Is(err, store.ErrConflict) {
						t.Errorf("RecordStampedSignature(%s) with a recorded serial: %v, want ErrConflict", dup.ID, err)
					}
				}
			}
		})
	}
	wg.Wait()
	gs, err := s.Signatures(ctx(t), store.SignatureFilter{Limit: 1000})
	if err != nil || len(gs) != workers*each+1 {
		t.Fatalf("Signatures = %d, %v; want %d (no refused one)", len(gs), err, workers*each+1)
	}
	for n := range workers*each + 1 {
		if _, err := s.TimestampBySerial(ctx(t), int64(n+1)); err != nil {
			t.Errorf("token %d: %v", n+1, err)
		}
	}
	verifyAudit(t, s, 1+2*workers*each)
}

// testSigningKeys: a profile has no signing key until one is put; a
// second put replaces it, and both keys stay readable; each put is
// audited.
func testSigningKeys(t *testing.T, s store.Store) {
	if _, err := s.SigningKey(ctx(t), "clara-signing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SigningKey on an empty store: %v, want ErrNotFound", err)
	}
	for i, id := range []string{"sign-clara-1", "sign-clara-2"} {
		k := store.KeyRecord{ID: id, Algorithm: "ecdsa-p256", Sealed: []byte{byte(i), 1, 2}}
		sk := store.SigningKey{Profile: "clara-signing", KeyID: id, Serial: Serial(i), DER: []byte{0x30, byte(i)}, CreatedAt: day(i)}
		if err := s.PutSigningKey(ctx(t), k, sk, ev("sign.key.create", id)); err != nil {
			t.Fatal(err)
		}
		got, err := s.SigningKey(ctx(t), "clara-signing")
		if err != nil || got.KeyID != id || got.Serial != sk.Serial || !slices.Equal(got.DER, sk.DER) || !got.CreatedAt.Equal(sk.CreatedAt) {
			t.Fatalf("SigningKey after put %d = %+v, %v; want %+v", i, got, err, sk)
		}
	}
	for _, id := range []string{"sign-clara-1", "sign-clara-2"} {
		if _, err := s.Key(ctx(t), id); err != nil {
			t.Errorf("key %s: %v", id, err)
		}
	}
	if _, err := s.SigningKey(ctx(t), "covina-signing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another profile: %v, want ErrNotFound", err)
	}
	verifyAudit(t, s, 2)
}
