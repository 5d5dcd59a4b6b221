package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
)

// rawDB opens the file behind the store's back, as an attacker or a
// careless operator with sqlite3 would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// auditFixture is a store with five audit entries.
func auditFixture(t *testing.T) (*Store, string) {
	path := tempDB(t)
	s := openAt(t, path)
	for i := range 5 {
		ev := store.AuditEvent{Time: t0.Add(time.Duration(i)), Actor: "operator:alice", Action: "issue", Object: fmt.Sprint(i), Result: "ok"}
		if err := s.AppendAudit(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	return s, path
}

func TestAuditAppendOnly(t *testing.T) {
	_, path := auditFixture(t)
	db := rawDB(t, path)
	for _, q := range []string{`UPDATE audit_log SET result = 'x' WHERE seq = 2`, `DELETE FROM audit_log WHERE seq = 2`} {
		if _, err := db.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refusal by the append-only trigger", q, err)
		}
	}
}

func TestAuditTampering(t *testing.T) {
	tests := []struct {
		name    string
		stmts   []string
		wantSeq int64
	}{
		{"changed result", []string{`UPDATE audit_log SET result = 'refused' WHERE seq = 3`}, 3},
		{"changed time", []string{`UPDATE audit_log SET time = time + 1 WHERE seq = 4`}, 4},
		{"deleted middle", []string{`DELETE FROM audit_log WHERE seq = 3`}, 3},
		{"swapped", []string{
			`UPDATE audit_log SET seq = -1 WHERE seq = 2`,
			`UPDATE audit_log SET seq = 2 WHERE seq = 3`,
			`UPDATE audit_log SET seq = 3 WHERE seq = -1`,
		}, 2},
		{"swapped contents", []string{
			`UPDATE audit_log SET object = (SELECT object FROM audit_log WHERE seq = 5) WHERE seq = 1`,
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, path := auditFixture(t)
			if n, err := store.VerifyAudit(t.Context(), s); err != nil || n != 5 {
				t.Fatalf("before tampering: VerifyAudit = %d, %v", n, err)
			}
			db := rawDB(t, path)
			// Someone with the file can drop the triggers; the chain still tells.
			for _, q := range append([]string{`DROP TRIGGER audit_log_no_update`, `DROP TRIGGER audit_log_no_delete`}, tc.stmts...) {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			_, err := store.VerifyAudit(t.Context(), s)
			var p *store.AuditProblem
			if !errors.As(err, &p) || p.Seq != tc.wantSeq {
				t.Fatalf("VerifyAudit after tampering = %v, want AuditProblem at %d", err, tc.wantSeq)
			}
			t.Log(p)
		})
	}
}
