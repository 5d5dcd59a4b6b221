package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// TestServeDrainsEveryGoroutine runs serve in this process on a fresh
// data directory, waits until it serves, stops it as SIGTERM does (its
// context ends) and checks that it returned with no goroutine of its own
// left: listeners, front ends' background work, lease renewals.
func TestServeDrainsEveryGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	profiles, err := filepath.Abs("../../configs/profiles")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "vccpki.yaml")
	body := "data: data\nprofiles: " + profiles + "\nhttps_addr: 127.0.0.1:0\nhttp_addr: 127.0.0.1:0\n" +
		"metrics:\n  addr: 127.0.0.1:0\nlog:\n  level: error\n" +
		"keys:\n  passphrase_file: pass\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pass"), []byte("drain test passphrase, long enough\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := runServe(ctx, []string{"--config", cfg}, w)
		w.CloseWithError(io.EOF)
		done <- err
	}()
	// The banner's last line says the server serves.
	var banner strings.Builder
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			banner.Write(buf[:n])
			if strings.Contains(banner.String(), "root certificate:") {
				stop()
				io.Copy(io.Discard, r)
				return
			}
			if err != nil {
				return
			}
		}
	})
	wg.Wait()
	if !strings.Contains(banner.String(), "vccpki is serving") {
		t.Fatalf("serve printed no banner:\n%s\n%v", banner.String(), <-done)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}
