package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/vcc/vccpki/seal"
)

// drainConfig writes a configuration on free ports with the passphrase in
// a file, and returns its path and the data directory.
func drainConfig(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	profiles, err := filepath.Abs("../../configs/profiles")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "vccpki.yaml")
	body := "data: data\nprofiles: " + profiles + "\nhttps_addr: 127.0.0.1:0\nhttp_addr: 127.0.0.1:0\n" +
		"metrics:\n  addr: 127.0.0.1:0\nlog:\n  level: error\nkeys:\n  passphrase_file: pass\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pass"), []byte("drain test passphrase, long enough\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, filepath.Join(dir, "data")
}

// serveInProcess runs serve in this process. lines yields its output line
// by line; stop ends it as SIGTERM does and returns what serve returned.
func serveInProcess(t *testing.T, cfg string) (lines *bufio.Scanner, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := runServe(ctx, []string{"--config", cfg}, w)
		w.Close()
		done <- err
	}()
	return bufio.NewScanner(r), func() error {
		cancel()
		go io.Copy(io.Discard, r) // serve may still print
		return <-done
	}
}

// waitForLine reads until a line contains want.
func waitForLine(t *testing.T, lines *bufio.Scanner, want string) {
	t.Helper()
	var seen strings.Builder
	for lines.Scan() {
		seen.WriteString(lines.Text() + "\n")
		if strings.Contains(lines.Text(), want) {
			return
		}
	}
	t.Fatalf("serve ended without printing %q:\n%s", want, seen.String())
}

// TestServeDrainsEveryGoroutine runs serve in this process on a fresh
// data directory, waits until it serves, stops it as SIGTERM does (its
// context ends) and checks that it returned with no goroutine of its own
// left: listeners, front ends' background work, lease renewals.
func TestServeDrainsEveryGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg, _ := drainConfig(t)
	lines, stop := serveInProcess(t, cfg)
	waitForLine(t, lines, "root certificate:")
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// TestSealedServeDrainsEveryGoroutine does the same for a key store split
// into shares: stopped while sealed, and stopped after an unseal.
func TestSealedServeDrainsEveryGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg, data := drainConfig(t)
	var out bytes.Buffer
	if err := runInit(t.Context(), []string{"--config", cfg, "--shares", "3", "--threshold", "2"}, &out); err != nil {
		t.Fatalf("init: %v\n%s", err, out.String())
	}
	shares := regexp.MustCompile(`(?m)^share \d+: (\S+)$`).FindAllStringSubmatch(out.String(), -1)
	if len(shares) != 3 {
		t.Fatalf("init printed %d shares:\n%s", len(shares), out.String())
	}

	lines, stop := serveInProcess(t, cfg)
	waitForLine(t, lines, "vccpki is serving SEALED")
	waitForLine(t, lines, "root certificate:")
	if err := stop(); err != nil {
		t.Fatalf("serve stopped while sealed: %v", err)
	}

	lines, stop = serveInProcess(t, cfg)
	waitForLine(t, lines, "admin socket:")
	for i, s := range shares[:2] {
		if _, err := seal.GiveShare(t.Context(), data, fmt.Sprintf("holder %d", i), s[1]); err != nil {
			t.Fatalf("share %d: %v", i+1, err)
		}
	}
	waitForLine(t, lines, "vccpki is serving")
	waitForLine(t, lines, "root certificate:")
	if err := stop(); err != nil {
		t.Fatalf("serve stopped after the unseal: %v", err)
	}
}
