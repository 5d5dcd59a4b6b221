package sqlite

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/storetest"
)

// The deterministic tests below stall the committer: they take the store's
// write slot (Store.writer), so the committer blocks in BEGIN with a one-
// request "plug" batch, and everything submitted meanwhile queues for the
// next batch, in submission order. Nothing waits on a clock except
// waitFor's polling, whose deadline only turns a hang into a failure.

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func queueLen(s *Store) int { return s.gc.Queued() }

// stall holds the write slot and returns the function that gives it back
// (also run at cleanup, before the store is closed).
func stall(t *testing.T, s *Store) (release func()) {
	s.writer <- struct{}{}
	var once sync.Once
	release = func() { once.Do(func() { <-s.writer }) }
	t.Cleanup(release)
	return release
}

// submitReq submits r with ctx and waits until the committer has taken it.
func submitReq(t *testing.T, s *Store, ctx context.Context, r *writeReq) <-chan error {
	t.Helper()
	ch := make(chan error, 1)
	before := s.gc.Taken()
	go func() { ch <- s.submit(ctx, r) }()
	waitFor(t, "the committer to take a request", func() bool { return s.gc.Taken() > before })
	return ch
}

// plug submits an audit event and waits until the committer has taken it;
// with the writer stalled, the committer then waits in BEGIN.
func plug(t *testing.T, s *Store) <-chan error {
	t.Helper()
	ev, at, err := s.AuditRow(store.AuditEvent{Actor: "system", Action: "plug", Result: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	return submitReq(t, s, context.Background(), &writeReq{ev: ev, evTime: at})
}

// enqueue runs op in a goroutine and waits until its request is queued, so
// that requests queue in the order enqueue is called. Only while stalled
// behind a plug, when nothing leaves the queue.
func enqueue(t *testing.T, s *Store, op func() error) <-chan error {
	t.Helper()
	n := queueLen(s)
	ch := make(chan error, 1)
	go func() { ch <- op() }()
	waitFor(t, "a request to queue", func() bool { return queueLen(s) > n })
	return ch
}

func insertOp(s *Store, serial, issuer string) func() error {
	return func() error {
		c := storetest.Cert(serial, issuer, "argus", t0, t0.Add(time.Hour))
		return s.InsertCertificate(context.Background(), c, store.AuditEvent{Actor: issuer, Action: "issue", Object: serial})
	}
}

func auditObjects(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	err := s.WalkAudit(t.Context(), func(e store.AuditEntry) error {
		out = append(out, e.Action+" "+e.Object)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func verify(t *testing.T, s *Store, want int64) {
	t.Helper()
	if n, err := store.VerifyAudit(t.Context(), s); err != nil || n != want {
		t.Fatalf("VerifyAudit = %d, %v; want %d entries", n, err, want)
	}
}

// TestGroupCommitBatches shows requests queued during a commit share the
// next transaction, at most maxBatch of them.
func TestGroupCommitBatches(t *testing.T) {
	s := openAt(t, tempDB(t))
	release := stall(t, s)
	p := plug(t, s)
	const n = maxBatch + 44
	var chans []<-chan error
	for i := range n {
		chans = append(chans, enqueue(t, s, insertOp(s, storetest.Serial(i), "services")))
	}
	release()
	if err := <-p; err != nil {
		t.Fatal(err)
	}
	for i, ch := range chans {
		if err := <-ch; err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
	// The plug alone, then maxBatch, then the rest.
	if got := s.commits.Load(); got != 3 {
		t.Errorf("%d requests took %d transactions, want 3", n+1, got)
	}
	verify(t, s, n+1)
}

// TestBatchOutcomes runs one batch each and checks every request's outcome.
func TestBatchOutcomes(t *testing.T) {
	type op struct {
		serial, issuer string // serial "" = AppendAudit(issuer)
		want           error  // nil, store.ErrConflict, or errInvalid
	}
	var (
		errInvalid = errors.New("invalid: refused before queueing")
		errFails   = errors.New("fails, not as a conflict")
	)
	// Triggers make the audit insert of issuer "boom" fail, alone, and
	// that of "doom" abandon the whole transaction.
	const (
		boom = `CREATE TRIGGER boom BEFORE INSERT ON audit_log WHEN NEW.actor = 'boom'
			BEGIN SELECT RAISE(ABORT, 'boom'); END`
		doom = `CREATE TRIGGER doom BEFORE INSERT ON audit_log WHEN NEW.actor = 'doom'
			BEGIN SELECT RAISE(ROLLBACK, 'doom'); END`
	)
	tests := []struct {
		name    string
		setup   string   // SQL run on the file first
		stored  []string // inserted before the batch, issuer "old"
		ops     []op
		winners map[string]string // serial -> issuer stored afterwards
	}{
		{"all distinct", "", nil,
			[]op{{"0a", "x", nil}, {"", "note", nil}, {"0b", "y", nil}},
			map[string]string{"0a": "x", "0b": "y"}},
		{"twice in the batch", "", nil,
			[]op{{"0a", "x", nil}, {"0b", "y", nil}, {"0a", "z", store.ErrConflict}},
			map[string]string{"0a": "x", "0b": "y"}},
		{"already stored", "", []string{"0a"},
			[]op{{"0a", "x", store.ErrConflict}, {"0b", "y", nil}},
			map[string]string{"0a": "old", "0b": "y"}},
		{"stored and twice in the batch", "", []string{"0a"},
			[]op{{"0a", "x", store.ErrConflict}, {"0a", "y", store.ErrConflict}, {"", "note", nil}, {"0c", "z", nil}},
			map[string]string{"0a": "old", "0c": "z"}},
		{"conflicts first and last", "", []string{"0a"},
			[]op{{"0a", "x", store.ErrConflict}, {"0b", "y", nil}, {"0c", "z", nil}, {"0b", "w", store.ErrConflict}},
			map[string]string{"0a": "old", "0b": "y", "0c": "z"}},
		{"invalid beside valid", "", nil,
			[]op{{"0a", "x", nil}, {"0A", "bad", errInvalid}, {"00aa", "bad", errInvalid}, {"0b", "y", nil}},
			map[string]string{"0a": "x", "0b": "y"}},
		// The certificate went in, its audit entry did not: the savepoint
		// takes the certificate back out, and only that request fails.
		{"one request fails after its first statement", boom, nil,
			[]op{{"0a", "x", nil}, {"0b", "boom", errFails}, {"0c", "y", nil}, {"0b", "z", nil}},
			map[string]string{"0a": "x", "0b": "z", "0c": "y"}},
		{"transaction abandoned", doom, []string{"0a"},
			[]op{{"0b", "x", errFails}, {"0a", "y", errFails}, {"0c", "doom", errFails}, {"", "note", errFails}},
			map[string]string{"0a": "old", "0b": "", "0c": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tempDB(t)
			s := openAt(t, path)
			if tc.setup != "" {
				if _, err := rawDB(t, path).Exec(tc.setup); err != nil {
					t.Fatal(err)
				}
			}
			want := []string{}
			for _, serial := range tc.stored {
				if err := insertOp(s, serial, "old")(); err != nil {
					t.Fatal(err)
				}
				want = append(want, "issue "+serial)
			}
			commits := s.commits.Load()
			release := stall(t, s)
			p := plug(t, s)
			want = append(want, "plug ")
			chans := make([]<-chan error, len(tc.ops))
			for i, o := range tc.ops {
				switch {
				case o.want == errInvalid:
					// Refused before queueing: fails at once, alone.
					if err := insertOp(s, o.serial, o.issuer)(); err == nil || errors.Is(err, store.ErrConflict) {
						t.Errorf("op %d (%s): %v, want a validation error", i, o.serial, err)
					}
				case o.serial == "":
					chans[i] = enqueue(t, s, func() error {
						return s.AppendAudit(context.Background(), store.AuditEvent{Action: "audit", Object: o.issuer})
					})
				default:
					chans[i] = enqueue(t, s, insertOp(s, o.serial, o.issuer))
				}
			}
			release()
			if err := <-p; err != nil {
				t.Fatal(err)
			}
			for i, o := range tc.ops {
				if chans[i] == nil {
					continue
				}
				err := <-chans[i]
				if o.want == errFails && (err == nil || errors.Is(err, store.ErrConflict)) ||
					o.want == nil && err != nil ||
					o.want != nil && o.want != errFails && !errors.Is(err, o.want) {
					t.Errorf("op %d (%s %s): %v, want %v", i, o.serial, o.issuer, err, o.want)
				}
				switch {
				case err != nil:
				case o.serial == "":
					want = append(want, "audit "+o.issuer)
				default:
					want = append(want, "issue "+o.serial)
				}
			}
			wantCommits := int64(2) // the plug, then the batch
			if tc.setup == doom {
				wantCommits = 1
			}
			if got := s.commits.Load() - commits; got != wantCommits {
				t.Errorf("%d transactions committed, want %d", got, wantCommits)
			}
			for serial, issuer := range tc.winners { // issuer "": not stored
				c, err := s.Certificate(t.Context(), serial)
				if issuer == "" && !errors.Is(err, store.ErrNotFound) {
					t.Errorf("certificate %s stored from a failed batch: %v", serial, err)
				} else if issuer != "" && (err != nil || c.Issuer != issuer) {
					t.Errorf("certificate %s: issuer %q, %v; want %q", serial, c.Issuer, err, issuer)
				}
			}
			if got := auditObjects(t, s); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("audit log %q, want %q", got, want)
			}
			verify(t, s, int64(len(want)))
			// The committer carries on.
			if err := insertOp(s, "7f", "after")(); err != nil {
				t.Errorf("insert after the batch: %v", err)
			}
			verify(t, s, int64(len(want))+1)
		})
	}
}

func TestCancel(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	t.Run("before the call", func(t *testing.T) {
		s := openAt(t, tempDB(t))
		c := storetest.Cert("0a", "services", "argus", t0, t0.Add(time.Hour))
		if err := s.InsertCertificate(cancelled, c, ok); !errors.Is(err, context.Canceled) {
			t.Errorf("InsertCertificate: %v, want context.Canceled", err)
		}
		if err := s.AppendAudit(cancelled, ok); !errors.Is(err, context.Canceled) {
			t.Errorf("AppendAudit: %v, want context.Canceled", err)
		}
		if _, err := s.Certificate(t.Context(), "0a"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("cancelled insert stored: %v", err)
		}
		verify(t, s, 0)
	})
	t.Run("while queued", func(t *testing.T) {
		s := openAt(t, tempDB(t))
		release := stall(t, s)
		p := plug(t, s)
		ctx, cancel := context.WithCancel(context.Background())
		ch := enqueue(t, s, func() error {
			c := storetest.Cert("0a", "services", "argus", t0, t0.Add(time.Hour))
			return s.InsertCertificate(ctx, c, ok)
		})
		after := enqueue(t, s, insertOp(s, "0b", "services"))
		cancel()
		// Returns while the committer is still stalled.
		if err := <-ch; !errors.Is(err, context.Canceled) {
			t.Errorf("InsertCertificate cancelled while queued: %v, want context.Canceled", err)
		}
		release()
		if err := <-p; err != nil {
			t.Fatal(err)
		}
		if err := <-after; err != nil {
			t.Fatal(err)
		}
		if _, err := s.Certificate(t.Context(), "0a"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("cancelled insert stored: %v", err)
		}
		verify(t, s, 2) // plug, 0b
	})
	t.Run("after being taken", func(t *testing.T) {
		s := openAt(t, tempDB(t))
		release := stall(t, s)
		ctx, cancel := context.WithCancel(context.Background())
		r, err := s.certRequest(storetest.Cert("0a", "services", "argus", t0, t0.Add(time.Hour)), ok)
		if err != nil {
			t.Fatal(err)
		}
		ch := submitReq(t, s, ctx, r)
		cancel()
		release()
		// Taken into a batch: the caller waits for, and gets, the real outcome.
		if err := <-ch; err != nil {
			t.Errorf("submit cancelled after being taken: %v, want the commit's nil", err)
		}
		if _, err := s.Certificate(t.Context(), "0a"); err != nil {
			t.Errorf("certificate not stored: %v", err)
		}
		verify(t, s, 1)
	})
}

// TestClose: writes queued before Close are committed; later ones fail.
func TestClose(t *testing.T) {
	path := tempDB(t)
	s := openAt(t, path)
	release := stall(t, s)
	p := plug(t, s)
	var chans []<-chan error
	for i := range 10 {
		chans = append(chans, enqueue(t, s, insertOp(s, storetest.Serial(i), "services")))
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	waitFor(t, "Close to begin", s.gc.Closing)
	if err := insertOp(s, "0a", "late")(); !errors.Is(err, ErrClosed) {
		t.Errorf("insert after Close: %v, want ErrClosed", err)
	}
	release()
	for _, ch := range append(chans, p, closed) {
		if err := <-ch; err != nil {
			t.Error(err)
		}
	}
	if err := s.AppendAudit(t.Context(), ok); !errors.Is(err, ErrClosed) {
		t.Errorf("AppendAudit after Close: %v, want ErrClosed", err)
	}
	verify(t, openAt(t, path), 11)
}
