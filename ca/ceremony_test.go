package ca_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/keys/pkcs11"
	"github.com/vcc/vccpki/ca/keys/pkcs11/softhsmtest"
	"github.com/vcc/vccpki/ca/keys/shamir"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite"
)

const rootPassphrase = "the root's own passphrase"

// offlineSide is a serving data directory made with an offline root, and
// that root's directory.
type offlineSide struct {
	st      store.Store
	ks      keys.Source
	cfg     ca.Config
	dir     string // the data directory (pending requests)
	rootDir string
	now     *atomic.Int64  // the injected clock, Unix seconds
	shares  []shamir.Share // the root's shares, for a root sealed under them
	token   *softhsmtest.Token
}

// openToken opens the root's token as a ceremony does (closed with the test).
func (o *offlineSide) openToken(t *testing.T) func(ca.RootToken) (keys.Source, error) {
	return func(rt ca.RootToken) (keys.Source, error) {
		tok, err := pkcs11.Open(pkcs11.Config{Module: rt.Module, TokenLabel: rt.TokenLabel, Slot: rt.Slot, PIN: o.token.PIN})
		if err == nil {
			t.Cleanup(func() { tok.Close() })
		}
		return tok, err
	}
}

// newOfflineSide does what vccpki init --offline-root does: bootstrap
// with the root's key kept apart, write the root directory, sign and
// import the first root CRL (90 days).
func newOfflineSide(t *testing.T) *offlineSide {
	t.Helper()
	return newOfflineSideWith(t, rootPassphraseSealed)
}

// How a test's offline root is kept.
const (
	rootPassphraseSealed = iota
	rootShares           // sealed under 3 shares, 2 to open
	rootToken            // in a SoftHSM2 token (the test must not be parallel)
)

// newOfflineSideWith makes an offline side whose root is kept as root says.
func newOfflineSideWith(t *testing.T, root int) *offlineSide {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "vccpki.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kek, params, err := keys.NewKEK([]byte(testPassphrase), testKDF)
	if err != nil {
		t.Fatal(err)
	}
	o := &offlineSide{st: st, ks: keys.NewSoftware(kek, st), dir: dir, rootDir: filepath.Join(t.TempDir(), "root"), now: &atomic.Int64{}}
	o.now.Store(time.Now().Unix())
	o.cfg = ca.Config{PublicURL: "http://127.0.0.1:8080", Hierarchy: ca.DefaultHierarchy(), Now: func() time.Time { return time.Unix(o.now.Load(), 0) }}
	var init *ca.OfflineRootInit
	switch root {
	case rootShares:
		init, o.shares, err = ca.NewOfflineRootInitShares(3, 2)
	case rootToken:
		tk := softhsmtest.New(t, "offline-root")
		o.token = &tk
		var src keys.Source
		if src, err = o.openToken(t)(ca.RootToken{Module: tk.Module, TokenLabel: tk.Label}); err == nil {
			init = ca.NewOfflineRootInitToken(src, ca.RootToken{Module: tk.Module, TokenLabel: tk.Label})
		}
	default:
		init, err = ca.NewOfflineRootInit([]byte(rootPassphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	init.Source = o.ks
	if ok, err := ca.Bootstrap(ctx, st, init, o.cfg, "test", store.KeyRecord{ID: keys.KEKRecordID, Algorithm: keys.KDFAlgorithm, Sealed: params}); err != nil || !ok {
		t.Fatalf("bootstrap: %v %v", ok, err)
	}
	if err := init.WriteRootDir(ctx, o.rootDir, st); err != nil {
		t.Fatal(err)
	}
	art := o.signCRL(t, st, 90*24*time.Hour)
	if _, err := ca.ImportArtefact(ctx, st, nil, o.cfg, "", art, "test"); err != nil {
		t.Fatal(err)
	}
	return o
}

func (o *offlineSide) host(t *testing.T) *ca.RootHost {
	t.Helper()
	open := func() (*ca.RootHost, error) { return ca.OpenRootHost(o.rootDir, []byte(rootPassphrase)) }
	if o.shares != nil {
		open = func() (*ca.RootHost, error) { return ca.OpenRootHostShares(o.rootDir, o.shares[1:]) }
	}
	if o.token != nil {
		open = func() (*ca.RootHost, error) {
			return ca.OpenRootHostToken(context.Background(), o.rootDir, o.openToken(t))
		}
	}
	h, err := open()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// state is what vccpki ceremony export-state carries to the root's host.
func (o *offlineSide) state(t *testing.T) store.Store {
	t.Helper()
	ctx := context.Background()
	to, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "vccpki.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { to.Close() })
	if err := ca.ExportState(ctx, o.st, to, "test"); err != nil {
		t.Fatal(err)
	}
	return to
}

func (o *offlineSide) signCRL(t *testing.T, state store.Store, validity time.Duration) *ca.Artefact {
	t.Helper()
	art, err := o.host(t).SignRootCRL(context.Background(), state, o.cfg, validity)
	if err != nil {
		t.Fatal(err)
	}
	return art
}

func (o *offlineSide) engine(t *testing.T, reg prometheus.Registerer) *ca.Engine {
	t.Helper()
	e, err := ca.Open(context.Background(), o.st, o.ks, nil, o.cfg, ca.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func rootOf(t *testing.T, e *ca.Engine) *x509.Certificate { t.Helper(); return e.Root() }

// TestOfflineRootCRL: the serving engine never signs with the root; it
// serves the imported ARL, which verifies against the root, lists a CA
// revoked on the serving side after the ceremony, and has the long
// validity asked for.
func TestOfflineRootCRL(t *testing.T) {
	ctx := context.Background()
	o := newOfflineSide(t)
	e := o.engine(t, nil)
	if !e.RootOffline() {
		t.Fatal("the engine does not know the root is offline")
	}
	if _, err := e.Signer(ctx, ca.RootCA); !errors.Is(err, ca.ErrRootOffline) {
		t.Errorf("Signer(root) = %v, want ErrRootOffline", err)
	}
	_, err := e.CreateCA(ctx, ca.CreateCARequest{Name: "partner", Parent: ca.RootCA}, "test")
	if !errors.Is(err, caerr.Conflict) || !strings.Contains(err.Error(), "ceremony create-ca") {
		t.Errorf("CreateCA below the offline root = %v, want the refusal naming the ceremony", err)
	}
	first, err := e.BuildCRL(ctx, ca.RootCA, 0)
	if err != nil || first.Number != 1 {
		t.Fatalf("root CRL: %v, %v", first, err)
	}

	// The serving side revokes a CA; the ceremony's ARL lists it.
	if err := e.RevokeCA(ctx, ca.RevokeCARequest{Name: ca.CodeSigningCA, Reason: ca.CACompromise}, "test"); err != nil {
		t.Fatal(err)
	}
	art := o.signCRL(t, o.state(t), 60*24*time.Hour)
	if _, err := ca.ImportArtefact(ctx, o.st, nil, o.cfg, "", art, "test"); err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(art.DER)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(e.Root()); err != nil {
		t.Errorf("the ceremony's CRL does not verify against the root: %v", err)
	}
	if got := crl.NextUpdate.Sub(crl.ThisUpdate); got != 60*24*time.Hour {
		t.Errorf("validity %v, want 60 days", got)
	}
	cs, _ := e.CACert(ca.CodeSigningCA)
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(cs.SerialNumber) != 0 {
		t.Errorf("entries %v, want the Code Signing CA %s", crl.RevokedCertificateEntries, cs.SerialNumber)
	}
	if n, _ := e.OfflineRootCRLNumber(); n != 1 {
		t.Errorf("before Refresh the engine serves CRL %d, want 1", n)
	}
	if _, err := e.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	served, err := e.BuildCRL(ctx, ca.RootCA, 0)
	if err != nil || !bytes.Equal(served.Bytes(), art.DER) || served.Number != 2 {
		t.Errorf("after Refresh the engine serves CRL %v (%v), want the imported number 2", served, err)
	}
}

// TestCeremonyRefusals: every way a ceremony or an import goes wrong is
// refused with a message that says what is wrong.
func TestCeremonyRefusals(t *testing.T) {
	ctx := context.Background()
	o := newOfflineSide(t)
	other := newOfflineSide(t)
	good := o.signCRL(t, o.state(t), 30*24*time.Hour)
	tampered := *good
	tampered.DER = bytes.Clone(good.DER)
	tampered.DER[len(tampered.DER)-3] ^= 0x40 // inside the signature
	lying := *other.signCRL(t, other.state(t), 30*24*time.Hour)
	lying.RootSHA256 = good.RootSHA256 // claims this hierarchy, signed by the other root
	emptyDir := t.TempDir()

	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"wrong passphrase", func() error {
			_, err := ca.OpenRootHost(o.rootDir, []byte("not the root passphrase"))
			return err
		}, "the root passphrase does not open the root directory"},
		{"not a root directory", func() error { _, err := ca.OpenRootHost(emptyDir, []byte(rootPassphrase)); return err }, "holds no offline root"},
		{"root directory of another hierarchy", func() error {
			_, err := other.host(t).SignRootCRL(ctx, o.state(t), o.cfg, time.Hour)
			return err
		}, "belongs to another hierarchy"},
		{"artefact of another hierarchy", func() error {
			_, err := ca.ImportArtefact(ctx, other.st, nil, other.cfg, "", good, "test")
			return err
		}, "made for another hierarchy"},
		{"tampered CRL", func() error { _, err := ca.ImportArtefact(ctx, o.st, nil, o.cfg, "", &tampered, "test"); return err }, "not signed by this hierarchy's root"},
		{"CRL signed by another root", func() error { _, err := ca.ImportArtefact(ctx, o.st, nil, o.cfg, "", &lying, "test"); return err }, "not signed by this hierarchy's root"},
		{"not an artefact", func() error { _, err := ca.ParseArtefact([]byte(`{"format":"x"}`)); return err }, "not a ceremony artefact"},
		{"CA certificate without a pending request", func() error {
			a := *good
			a.Kind, a.Name, a.DER = ca.ArtefactCACert, "partner", rootOf(t, o.engine(t, nil)).Raw
			_, err := ca.ImportArtefact(ctx, o.st, o.ks, o.cfg, o.dir, &a, "test")
			return err
		}, "no pending request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
	// The good one still imports, once.
	if _, err := ca.ImportArtefact(ctx, o.st, nil, o.cfg, "", good, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.ImportArtefact(ctx, o.st, nil, o.cfg, "", good, "test"); err == nil || !strings.Contains(err.Error(), "not newer") {
		t.Errorf("importing the same CRL twice: %v", err)
	}
}

// TestCeremonyCreateCA: ca request, ceremony create-ca, import: the CA
// chains to the root with the requested constraints, joins a running
// engine on Refresh and gets its OCSP responder; a certificate for other
// constraints than the pending request's is refused.
func TestCeremonyCreateCA(t *testing.T) {
	ctx := context.Background()
	o := newOfflineSide(t)
	e := o.engine(t, nil)
	pending := filepath.Join(o.dir, ca.PendingCADir)
	req := ca.CreateCARequest{Name: "partner", Parent: ca.RootCA, PermittedDNS: []string{".partner.example"}}
	rf, err := ca.RequestCA(ctx, o.st, o.ks, o.cfg, req, pending, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.RequestCA(ctx, o.st, o.ks, o.cfg, req, pending, "test"); err == nil || !strings.Contains(err.Error(), "is pending") {
		t.Errorf("a second request for the same name: %v", err)
	}

	// The root's host signs a request whose constraints were widened on
	// the way (the CSR does not carry them): import refuses it.
	widened := *rf
	widened.PermittedDNS = []string{".example"}
	bad, err := o.host(t).SignCA(ctx, o.state(t), o.cfg, &widened)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.ImportArtefact(ctx, o.st, o.ks, o.cfg, pending, bad, "test"); err == nil || !strings.Contains(err.Error(), "not what the pending request") {
		t.Errorf("import of a certificate with other constraints: %v", err)
	}

	// A request file carried through JSON, as the command does.
	b, _ := rf.Marshal()
	rf2, err := ca.ParseCARequest(b)
	if err != nil {
		t.Fatal(err)
	}
	art, err := o.host(t).SignCA(ctx, o.state(t), o.cfg, rf2)
	if err != nil {
		t.Fatal(err)
	}
	var round ca.Artefact
	ab, _ := art.Marshal()
	if err := json.Unmarshal(ab, &round); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.ImportArtefact(ctx, o.st, o.ks, o.cfg, pending, &round, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(pending, "partner.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pending request is still there: %v", err)
	}
	added, err := e.Refresh(ctx)
	if err != nil || !strings.Contains(strings.Join(added, ","), "partner") {
		t.Fatalf("Refresh added %v (%v), want partner", added, err)
	}
	c, _ := e.CACert("partner")
	roots := x509.NewCertPool()
	roots.AddCert(e.Root())
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots}); err != nil {
		t.Errorf("the new CA does not chain to the root: %v", err)
	}
	if len(c.PermittedDNSDomains) != 1 || c.PermittedDNSDomains[0] != ".partner.example" || !c.PermittedDNSDomainsCritical {
		t.Errorf("name constraints %v (critical %v)", c.PermittedDNSDomains, c.PermittedDNSDomainsCritical)
	}
	if r, ok := e.CACert(ca.OCSPResponderName("partner")); !ok || r.CheckSignatureFrom(c) != nil {
		t.Error("the new CA has no OCSP responder signed by it")
	}
}

// TestCheckRootCRL: the metric and the log line as the imported root
// CRL's nextUpdate nears and passes (injected clock).
func TestCheckRootCRL(t *testing.T) {
	o := newOfflineSide(t)
	reg := prometheus.NewRegistry()
	e := o.engine(t, reg)
	start := o.now.Load()
	day := int64(24 * 60 * 60)
	for _, tc := range []struct {
		name    string
		at      int64 // days after the CRL was signed
		wantLog string
		gauge   float64 // seconds
	}{
		{"fresh", 1, "", float64(89 * day)},
		{"within the margin", 80, "level=WARN msg=\"the offline root's CRL lapses soon", float64(10 * day)},
		{"lapsed", 91, "level=ERROR msg=\"the offline root's CRL has lapsed", float64(-1 * day)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o.now.Store(start + tc.at*day)
			var buf bytes.Buffer
			left, ok := e.CheckRootCRL(slog.New(slog.NewTextHandler(&buf, nil)), 14*24*time.Hour)
			if !ok || left != time.Duration(tc.gauge)*time.Second {
				t.Errorf("left %v ok %v, want %v", left, ok, time.Duration(tc.gauge)*time.Second)
			}
			if tc.wantLog == "" && buf.Len() > 0 || !strings.Contains(buf.String(), tc.wantLog) {
				t.Errorf("log %q, want %q", buf.String(), tc.wantLog)
			}
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var got float64
			var found bool
			for _, mf := range mfs {
				if mf.GetName() == "vccpki_root_crl_next_update_seconds" {
					got, found = mf.GetMetric()[0].GetGauge().GetValue(), true
				}
			}
			if !found || got != tc.gauge {
				t.Errorf("gauge %v (found %v), want %v", got, found, tc.gauge)
			}
		})
	}
}

// TestOfflineRootShares: a root sealed under its own shares opens with
// the threshold of them, not with fewer nor with a passphrase, and signs
// a CRL that verifies against the root.
func TestOfflineRootShares(t *testing.T) {
	ctx := context.Background()
	o := newOfflineSideWith(t, rootShares)
	if _, err := ca.OpenRootHostShares(o.rootDir, o.shares[:1]); err == nil || !strings.Contains(err.Error(), "not enough shares") {
		t.Errorf("one share of two: %v", err)
	}
	if _, err := ca.OpenRootHost(o.rootDir, []byte(rootPassphrase)); err == nil || !strings.Contains(err.Error(), "unsealed with its shares") {
		t.Errorf("a passphrase for a root under shares: %v", err)
	}
	h, err := ca.OpenRootHostShares(o.rootDir, []shamir.Share{o.shares[2], o.shares[0]})
	if err != nil {
		t.Fatal(err)
	}
	art, err := h.SignRootCRL(ctx, o.state(t), o.cfg, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(art.DER)
	if err != nil || crl.CheckSignatureFrom(h.Certificate()) != nil || crl.Number.Int64() != 2 {
		t.Fatalf("CRL %v: %v", crl, err)
	}
}

// TestOfflineRootToken: the offline root's key made in a PKCS#11 token
// (SoftHSM2): sensitive and non-extractable there, the root file holds no
// key, and the ceremonies open the token: sign-crl makes a root CRL that
// verifies against the root and imports.
func TestOfflineRootToken(t *testing.T) {
	ctx := context.Background()
	o := newOfflineSideWith(t, rootToken)
	b, err := os.ReadFile(filepath.Join(o.rootDir, ca.RootKeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(b, &f); err != nil || f["unseal"] != "pkcs11" || f["sealed_key"] != nil || f["token"] == nil {
		t.Fatalf("root file: %v\n%s", err, b)
	}
	tok, err := pkcs11.Open(pkcs11.Config{Module: o.token.Module, TokenLabel: o.token.Label, PIN: o.token.PIN})
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	sensitive, extractable, never, err := tok.Protection(f["key_id"].(string))
	if err != nil || !sensitive || extractable || !never {
		t.Errorf("the root key in the token: sensitive %v extractable %v never extractable %v (%v)", sensitive, extractable, never, err)
	}
	if _, err := ca.OpenRootHost(o.rootDir, []byte(rootPassphrase)); err == nil || !strings.Contains(err.Error(), "pkcs11") {
		t.Errorf("a passphrase opened a token root: %v", err)
	}
	art := o.signCRL(t, o.state(t), 30*24*time.Hour)
	crl, err := x509.ParseRevocationList(art.DER)
	if err != nil || crl.CheckSignatureFrom(o.engine(t, nil).Root()) != nil || crl.Number.Int64() != 2 {
		t.Fatalf("the token root's CRL: %v", err)
	}
	if _, err := ca.ImportArtefact(ctx, o.st, nil, o.cfg, "", art, "test"); err != nil {
		t.Fatal(err)
	}
}
