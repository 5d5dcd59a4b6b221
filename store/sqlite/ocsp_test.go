package sqlite

import (
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/store/sqlstore"
	"github.com/vcc/vccpki/store/storetest"
)

func TestStatusContract(t *testing.T) {
	storetest.RunStatus(t, func(t *testing.T) storetest.StatusTestStore { return openAt(t, tempDB(t)) })
}

// TestStatusChangesAcrossHandles: a change committed through one handle
// (vccpki revoke, another process) is seen by a reader on another.
func TestStatusChangesAcrossHandles(t *testing.T) {
	path := tempDB(t)
	server, admin := openAt(t, path), openAt(t, path)
	c := storetest.Cert(storetest.Serial(1), "services", "argus", t0, t0.Add(90*24*time.Hour))
	if err := admin.InsertCertificate(t.Context(), c, ok); err != nil {
		t.Fatal(err)
	}
	cursor, err := server.LastStatusChange(t.Context())
	if err != nil || cursor == 0 {
		t.Fatalf("LastStatusChange = %d, %v", cursor, err)
	}
	if err := admin.Revoke(t.Context(), c.Serial, t0.Add(time.Hour), 1, ok); err != nil {
		t.Fatal(err)
	}
	got, err := server.StatusChanges(t.Context(), cursor, 10)
	if err != nil || len(got) != 1 || got[0].RevokedAt.IsZero() {
		t.Fatalf("server sees %+v, %v", got, err)
	}
}

// TestQueryPlans guards the walks of RevokedCertificates, the OCSP
// responder and the CRL shards against full scans and in-memory sorts.
func TestQueryPlans(t *testing.T) {
	s := openAt(t, tempDB(t))
	for _, tc := range []struct {
		name, query, index string
		args               []any
	}{
		{"revoked of an issuer", sqlstore.RevokedOfIssuerSQL, "certificates_revoked", []any{"services"}},
		{"certificate statuses", sqlstore.CertificateStatusesSQL,
			"COVERING INDEX certificates_issuer_status", []any{"services", 0, "", 10}},
		{"revoked in shard", sqlstore.RevokedInShardSQL, "COVERING INDEX certificates_revoked_shard", []any{"services", 1}},
		{"revoked in all shards", sqlstore.RevokedAllShardsSQL, "COVERING INDEX certificates_revoked_shard", []any{"services"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := queryPlan(t, s, tc.query, tc.args...)
			if !strings.Contains(p, tc.index) || strings.Contains(p, "TEMP B-TREE") {
				t.Errorf("query plan %q: want %s and no sort", p, tc.index)
			}
		})
	}
}

// queryPlan returns SQLite's EXPLAIN QUERY PLAN details, joined by "; ".
func queryPlan(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.db.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}
