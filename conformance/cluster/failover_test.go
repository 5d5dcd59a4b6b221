package cluster

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/postgres"
	"github.com/vcc/vccpki/store/postgres/pgtest"
)

// TestFailoverToPromotedStandby runs vccpki on a primary with a
// synchronous streaming-replication hot standby (docs/postgres.md), kills
// the primary, promotes the standby as the operator would, and checks that
// the running vccpki carries on against it without a restart: requests
// caught in between fail cleanly, later ones succeed, and nothing a client
// received is missing on the promoted server.
func TestFailoverToPromotedStandby(t *testing.T) {
	primary, err := pgtest.Start(pgtest.Options{Settings: []string{"synchronous_commit=on"}})
	if err != nil {
		t.Fatalf("starting PostgreSQL: %v", err)
	}
	defer primary.Stop()
	dbURL := primary.Database(t) // before the base backup, so the standby has it
	standby, err := primary.StartStandby(pgtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Stop()
	// Synchronous from here on: a commit returns once the standby has it,
	// so nothing a client was told is lost in the failover.
	if err := primary.Exec(`ALTER SYSTEM SET synchronous_standby_names = '*'`, `SELECT pg_reload_conf()`); err != nil {
		t.Fatal(err)
	}
	db := dbURL[strings.LastIndex(dbURL, "/")+1 : strings.Index(dbURL, "?")]
	// Both servers in one URL; vccpki connects to the one that takes writes.
	multi := fmt.Sprintf("postgres://vccpki@127.0.0.1:%d,127.0.0.1:%d/%s?sslmode=disable&connect_timeout=2",
		primary.Port, standby.Port, db)

	c := &Cluster{DBURL: multi, http01: &http01Responder{}}
	single := StartWithURL(t, c, 1)
	core := c.ACMEClient(t, Pinned(single, 0))
	var received []string
	leaf, _, err := c.IssueACME(core, "before-failover.test")
	if err != nil {
		t.Fatal(err)
	}
	received = append(received, ca.FormatSerial(leaf.SerialNumber))

	primary.Kill()
	if err := standby.Promote(); err != nil {
		t.Fatal(err)
	}
	failures := 0
	deadline := time.Now().Add(60 * time.Second)
	for {
		leaf, _, err := c.IssueACME(core, fmt.Sprintf("after-failover-%d.test", failures))
		if err == nil {
			received = append(received, ca.FormatSerial(leaf.SerialNumber))
			break
		}
		failures++
		if failures == 1 {
			t.Logf("first failure after the primary died: %v", err)
		}
		select {
		case <-single.Nodes[0].Done():
			t.Fatalf("vccpki exited during the failover: %v\n%s", single.Nodes[0].Wait(), single.Nodes[0].Stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no issuance within 60s of the promotion; last error: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("issuance works again after the promotion; %d attempts failed in between", failures)

	st, err := postgres.Open(t.Context(), standby.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, serial := range received {
		if _, err := st.Certificate(t.Context(), serial); err != nil {
			t.Errorf("certificate %s a client received is not on the promoted server: %v", serial, err)
		}
	}
	if n, err := store.VerifyAudit(t.Context(), st); err != nil {
		t.Errorf("audit chain on the promoted server: %v (%d entries)", err, n)
	}
}
