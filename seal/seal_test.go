package seal

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite"
)

// TestGateUnsealSeal walks the ceremony over the real admin socket on a
// real store: status, a share, a repeated share, the last share, seal.
func TestGateUnsealSeal(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	// A short path: a Unix socket path is limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "seal")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "vccpki.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, shares, params, err := keys.NewSharedKEK(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	rec := store.KeyRecord{ID: keys.KEKRecordID, Algorithm: keys.SharesAlgorithm, Sealed: params}
	if err := st.CreateHierarchy(ctx, []store.KeyRecord{rec}, nil, store.AuditEvent{Actor: "test", Action: "init", Object: "key store", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	g, err := Start(ctx, st, dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil || g == nil {
		t.Fatalf("Start: %v, %v", g, err)
	}
	defer g.Close(ctx)

	get := func(path string) (int, string) {
		w := httptest.NewRecorder()
		g.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Code, w.Body.String()
	}
	if code, body := get("/healthz"); code != http.StatusServiceUnavailable || body != "sealed\n" {
		t.Errorf("sealed /healthz: %d %q", code, body)
	}
	s, err := Ask(ctx, dir)
	if err != nil || !s.Sealed || s.Threshold != 2 || s.Shares != 3 || s.Given != 0 {
		t.Fatalf("status: %+v, %v", s, err)
	}
	if s, err = GiveShare(ctx, dir, "alice", fmt.Sprint(shares[0])); err != nil || s.Given != 1 || !strings.Contains(s.Message, "1 more needed") {
		t.Fatalf("first share: %+v, %v", s, err)
	}
	if _, err = GiveShare(ctx, dir, "alice", fmt.Sprint(shares[0])); err == nil {
		t.Fatal("the same share twice was accepted")
	}
	g.ServeUnsealed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "live\n") }))
	if s, err = GiveShare(ctx, dir, "bob", fmt.Sprint(shares[1])); err != nil || s.Sealed || s.Message != "unsealed" {
		t.Fatalf("last share: %+v, %v", s, err)
	}
	if !g.Wait(ctx) || g.Vault().Sealed() {
		t.Fatal("the vault is still sealed")
	}
	if code, body := get("/healthz"); code != http.StatusOK || body != "live\n" {
		t.Errorf("unsealed /healthz: %d %q", code, body)
	}
	if s, err = Seal(ctx, dir, "carol"); err != nil || !s.Sealed {
		t.Fatalf("seal: %+v, %v", s, err)
	}
	if code, _ := get("/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("after seal /healthz: %d", code)
	}
}
