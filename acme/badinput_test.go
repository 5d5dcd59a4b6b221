package acme_test

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/acme/acmetest"
)

// stateTables are the tables a bad request must leave untouched. The used
// nonces are left out on purpose: a request that got as far as spending
// its nonce has used it up (RFC 8555 §6.5), which is the point of a nonce.
var stateTables = []string{"acme_accounts", "acme_eab_keys", "acme_orders", "acme_authzs", "acme_certificates", "certificates", "audit_log"}

// snapshot hashes every row of the state tables, read straight from the
// SQLite file.
func (e *env) snapshot(t *testing.T) map[string]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.Dir, "vccpki.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]string{}
	for _, table := range stateTables {
		rows, err := db.Query(`SELECT * FROM ` + table + ` ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		h := sha256.New()
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(h, "%v\n", vals)
			n++
		}
		rows.Close()
		out[table] = fmt.Sprintf("%d rows %s", n, hex.EncodeToString(h.Sum(nil))[:16])
	}
	return out
}

// target is this package's server, for the table of bad requests.
func (e *env) target() acmetest.Target {
	return acmetest.Target{DirURL: e.DirURL, Client: e.Client(), HTTPPort: e.HTTPPort, NewEAB: func(t *testing.T) (string, string) {
		kid, hmac, err := acme.CreateEABKey(t.Context(), e.Store, "", "argus", "operator:test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return kid, hmac
	}}
}

// TestBadInput sends each malformed or hostile request and checks the
// problem type, the HTTP status, a fresh Replay-Nonce, and that the store's
// state is exactly as before.
func TestBadInput(t *testing.T) {
	e := testEnv
	f := acmetest.NewFixture(t, e.target())
	for _, tc := range acmetest.BadRequests(e.target()) {
		t.Run(tc.Name, func(t *testing.T) {
			before := e.snapshot(t)
			r := tc.Send(t, f)
			if want := "urn:ietf:params:acme:error:" + tc.Type; r.Prob.Type != want || r.Status != tc.Status {
				t.Errorf("got HTTP %d %q, want %d %q\n%s", r.Status, r.Prob.Type, tc.Status, want, r.Body)
			}
			if r.Header.Get("Replay-Nonce") == "" {
				t.Error("no fresh Replay-Nonce on the error response")
			}
			if after := e.snapshot(t); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("the store changed:\n before %v\n after  %v", before, after)
			}
		})
	}
	// The server still works for the accounts the hostile requests used,
	// and the order the bad CSRs were sent to is still ready: a good CSR
	// finalizes it (13.6).
	f.Alice.Post(f.Alice.Kid, nil).Must(t, http.StatusOK)
	var o acmetest.Order
	f.Alice.Post(f.Ready.URL, nil).Must(t, http.StatusOK).JSON(t, &o)
	if o.Status != "ready" {
		t.Fatalf("after the bad CSRs the order is %s, want ready", o.Status)
	}
	der, _ := acmetest.CSRFor(t, "ready.test")
	f.Alice.Post(f.Ready.Finalize, map[string]string{"csr": b64.EncodeToString(der)}).Must(t, http.StatusOK).JSON(t, &o)
	if o.Status != "valid" {
		t.Fatalf("finalize with a good CSR after bad ones: %s", o.Status)
	}
}
