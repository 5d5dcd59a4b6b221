package ca_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/store"
)

const crashChildEnv = "VCCPKI_CRASH_CHILD_DIR"

// TestIssuanceSurvivesSIGKILL issues in a loop in a child process, kills it
// with SIGKILL mid-way, and checks on the same data: the store opens and is
// intact, every certificate the child had received is there, no serial
// appears twice, and the audit chain verifies. Three rounds, each killed
// after a different number of issuances.
func TestIssuanceSurvivesSIGKILL(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(t, dir)
		return
	}
	dir := t.TempDir()
	openFixture(t, dir, ca.DefaultHierarchy()).store.Close() // bootstrap once; the children reopen
	var received []string
	for round, killAfter := range []int{25, 60, 7} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestIssuanceSurvivesSIGKILL$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		n := 0
		for n < killAfter && sc.Scan() {
			if serial, ok := strings.CutPrefix(sc.Text(), "ISSUED "); ok {
				received = append(received, serial)
				n++
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if n < killAfter {
			t.Fatalf("round %d: the child stopped after %d issuances", round, n)
		}
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "vccpki.db"))
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
	db.Close()

	g := openFixture(t, dir, ca.DefaultHierarchy())
	ctx := context.Background()
	all, err := g.store.Certificates(ctx, store.CertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]int{}
	for _, c := range all {
		have[c.Serial]++
	}
	for _, s := range received {
		if have[s] != 1 {
			t.Errorf("certificate %s was handed out but the store has it %d times", s, have[s])
		}
	}
	if n, err := store.VerifyAudit(ctx, g.store); err != nil {
		t.Errorf("audit chain after %d entries: %v", n, err)
	}
	// The engine still works on the recovered store.
	if _, err := g.engine.Issue(ctx, ca.IssueRequest{Profile: "argus", CSR: makeCSR(t, csrSpec{dns: []string{"after.argus.test"}}), Requester: operator()}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d certificates handed out before the kills, %d in the store", len(received), len(all))
}

// crashChild issues until killed, printing each serial only after Issue
// has returned it, as a client would receive it.
func crashChild(t *testing.T, dir string) {
	f := openFixture(t, dir, ca.DefaultHierarchy())
	ctx := context.Background()
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		iss, err := f.engine.Issue(ctx, ca.IssueRequest{Profile: "argus", CSR: makeCSR(t, csrSpec{dns: []string{fmt.Sprintf("h%d.argus.test", i)}}), Requester: operator()})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "ISSUED %s\n", iss.Serial)
		w.Flush()
	}
}
