package acme

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
)

// TestLocalWindow: a local nonce's counter is good once, only after it
// was issued, and only while fewer than the window's size newer ones
// were issued.
func TestLocalWindow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		issued int      // counters 1..issued are issued first
		redeem []uint64 // in order
		want   []bool
	}{
		{"first use of each", 3, []uint64{1, 2, 3}, []bool{true, true, true}},
		{"out of order", 3, []uint64{3, 1, 2}, []bool{true, true, true}},
		{"second use", 2, []uint64{2, 2}, []bool{true, false}},
		{"never issued", 2, []uint64{3, 0}, []bool{false, false}},
		{"oldest still in the window", 8, []uint64{1}, []bool{true}},
		{"fallen out of the window", 9, []uint64{1, 2, 9}, []bool{false, true, true}},
		{"slot shared with an older counter", 17, []uint64{10, 17, 9, 2}, []bool{true, true, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newLocalWindow(8)
			for range tc.issued {
				w.issue()
			}
			for i, c := range tc.redeem {
				if got := w.redeem(c); got != tc.want[i] {
					t.Errorf("redeem(%d) = %v, want %v", c, got, tc.want[i])
				}
			}
		})
	}
}

// TestLocalWindowSpentSlotFreed: a counter spent at the window's far edge
// does not make the counter reusing its slot look spent.
func TestLocalWindowSpentSlotFreed(t *testing.T) {
	w := newLocalWindow(4)
	c := w.issue()
	if !w.redeem(c) {
		t.Fatal("first redeem refused")
	}
	for range 3 {
		w.issue()
	}
	next := w.issue() // same slot as c
	if w.redeem(c) {
		t.Error("counter beyond the window accepted")
	}
	if !w.redeem(next) {
		t.Error("the counter reusing a spent slot is refused")
	}
}

func BenchmarkLocalWindow(b *testing.B) {
	w := newLocalWindow(localWindowSize)
	for b.Loop() {
		if !w.redeem(w.issue()) {
			b.Fatal("refused")
		}
	}
}

// FuzzNonce feeds arbitrary strings to the nonce check, seeded with nonces
// of both kinds as a server issues them (what every client sends back):
// nothing panics, only the one canonical spelling of a nonce is accepted,
// and at most once. Shared nonces are answered by a stand-in for the
// store's recorder that accepts each spelling once.
func FuzzNonce(f *testing.F) {
	at := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	n := &nonces{key: bytes.Repeat([]byte{7}, 32), now: func() time.Time { return at }, local: newLocalWindow(1 << 10),
		spends: make(chan spendReq, maxNonceBatch), stop: make(chan struct{}), stopped: make(chan struct{})}
	copy(n.instance[:], "fuzzinst")
	for range 4 {
		f.Add(n.issue())
		f.Add(n.issueShared())
	}
	f.Add("")
	f.Add(strings.Repeat("A", b64.EncodedLen(nonceRawLen)))
	seen := map[string]bool{}
	go func() {
		for r := range n.spends {
			if seen[r.use.Nonce] {
				r.done <- store.ErrConflict
			} else {
				seen[r.use.Nonce] = true
				r.done <- nil
			}
		}
	}()
	f.Fuzz(func(t *testing.T, nonce string) {
		if _, err := n.spend(context.Background(), nonce); err != nil {
			return
		}
		if b, ok := decodeNonce(nonce); !ok || b64.EncodeToString(b) != nonce {
			t.Fatalf("accepted %q, which is not a nonce's one spelling", nonce)
		}
		if _, err := n.spend(context.Background(), nonce); err == nil {
			t.Fatalf("accepted %q twice", nonce)
		}
	})
}
