package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/keys/pkcs11"
	"github.com/vcc/vccpki/ca/keys/shamir"
	"github.com/vcc/vccpki/internal/conf"
	"github.com/vcc/vccpki/internal/safefile"
	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlite"
)

// The offline root (docs/ca-lifecycle.md, "Offline root"): vccpki init
// --offline-root, and the ceremonies on the root's host. Flags and wiring
// only; the work is in ca/ceremony*.go.

const (
	defaultRootCRLValidity = 90 * 24 * time.Hour
	defaultRootCRLWarn     = 14 * 24 * time.Hour
	rootPassphraseEnv      = "VCCPKI_ROOT_PASSPHRASE"
	rootPINEnv             = "VCCPKI_ROOT_PKCS11_PIN"
)

func (c *config) rootCRLValidity() time.Duration {
	if c.rootCRLValid > 0 {
		return c.rootCRLValid
	}
	return defaultRootCRLValidity
}

func (c *config) rootCRLWarnBefore() time.Duration {
	if c.rootCRLWarn > 0 {
		return c.rootCRLWarn
	}
	return defaultRootCRLWarn
}

// rootFlags name the root directory and how its passphrase, shares or
// token PIN are given; closeTok closes a token open opened.
type rootFlags struct {
	dir, passFile, sharesFrom, pinFile *string
	closeTok                           func() error
}

func addRootFlags(fs *flag.FlagSet) *rootFlags {
	return &rootFlags{
		dir:        fs.String("root-dir", "", "the offline root's directory (its sealed key; never the serving data directory)"),
		passFile:   fs.String("root-passphrase-file", "", "file holding the root's own passphrase (else $"+rootPassphraseEnv+")"),
		sharesFrom: fs.String("root-shares-from", "", "a root made with --root-shares: read its holders' shares, one a line, from this file or - (standard input, each holder typing theirs)"),
		pinFile:    fs.String("root-pkcs11-pin-file", "", "a root in a PKCS#11 token: file holding the token's user PIN (else $"+rootPINEnv+")"),
	}
}

// openToken opens the root's PKCS#11 token with its PIN.
func (f *rootFlags) openToken(t ca.RootToken) (keys.Source, error) {
	var pin string
	switch {
	case *f.pinFile != "":
		b, err := os.ReadFile(*f.pinFile)
		if err != nil {
			return nil, fmt.Errorf("--root-pkcs11-pin-file: %w", err)
		}
		pin = strings.TrimRight(string(b), "\r\n")
	case os.Getenv(rootPINEnv) != "":
		pin = os.Getenv(rootPINEnv)
	default:
		return nil, &exitError{2, "the offline root's token needs its user PIN: --root-pkcs11-pin-file FILE or $" + rootPINEnv}
	}
	tok, err := pkcs11.Open(pkcs11.Config{Module: t.Module, TokenLabel: t.TokenLabel, Slot: t.Slot, PIN: pin})
	if err != nil {
		return nil, err
	}
	f.closeTok = tok.Close
	return tok, nil
}

// close closes the root's token, if open opened one.
func (f *rootFlags) close() {
	if f.closeTok != nil {
		_ = f.closeTok()
	}
}

func (f *rootFlags) passphrase() ([]byte, error) {
	if *f.passFile != "" {
		b, err := os.ReadFile(*f.passFile)
		if err != nil {
			return nil, fmt.Errorf("--root-passphrase-file: %w", err)
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	}
	if v := os.Getenv(rootPassphraseEnv); v != "" {
		return []byte(v), nil
	}
	return nil, &exitError{2, "the offline root needs its own passphrase: --root-passphrase-file FILE or $" + rootPassphraseEnv}
}

func (f *rootFlags) open() (*ca.RootHost, error) {
	if *f.dir == "" {
		return nil, &exitError{2, "give the root directory: --root-dir DIR"}
	}
	if u, err := ca.RootUnseal(*f.dir); err == nil && u == "pkcs11" {
		h, err := ca.OpenRootHostToken(context.Background(), *f.dir, f.openToken)
		if err != nil {
			f.close()
			var ee *exitError
			if errors.As(err, &ee) {
				return nil, err
			}
			return nil, &exitError{2, err.Error()}
		}
		return h, nil
	}
	if *f.sharesFrom != "" {
		b, err := readInput(*f.sharesFrom, 64<<10)
		if err != nil {
			return nil, err
		}
		var shares []shamir.Share
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line == "" {
				continue
			}
			s, err := shamir.ParseShare(line)
			if err != nil {
				return nil, &exitError{2, fmt.Sprintf("share %d: %v", len(shares)+1, err)}
			}
			shares = append(shares, s)
		}
		defer func() {
			for _, s := range shares {
				s.Wipe()
			}
		}()
		h, err := ca.OpenRootHostShares(*f.dir, shares)
		if err != nil {
			return nil, &exitError{2, err.Error()}
		}
		return h, nil
	}
	pass, err := f.passphrase()
	if err != nil {
		return nil, err
	}
	defer clear(pass)
	h, err := ca.OpenRootHost(*f.dir, pass)
	if err != nil {
		return nil, &exitError{2, err.Error()}
	}
	return h, nil
}

// offlineInit is vccpki init --offline-root.
type offlineInit struct {
	on                *bool
	rf                *rootFlags
	module, token     *string // --root-pkcs11-module, --root-pkcs11-token
	shares, threshold *int
	split             []shamir.Share // printed once by finish
}

func addOfflineInitFlags(fs *flag.FlagSet) *offlineInit {
	return &offlineInit{on: fs.Bool("offline-root", false, "keep the root key in its own sealed store in --root-dir, which serve never opens"), rf: addRootFlags(fs),
		shares:    fs.Int("root-shares", 0, "seal the offline root under N shares of its own (instead of its passphrase)"),
		threshold: fs.Int("root-threshold", 0, "how many of the --root-shares open the root directory"),
		module:    fs.String("root-pkcs11-module", "", "make the root key in a PKCS#11 token (its own, apart from the serving key store): the module's path"),
		token:     fs.String("root-pkcs11-token", "", "the label of the root's PKCS#11 token (PIN: --root-pkcs11-pin-file or $"+rootPINEnv+")")}
}

// prepare checks the flags before anything is made and gives the app the
// key source that keeps the root's key apart.
func (o *offlineInit) prepare(a *app) error {
	if !*o.on {
		if *o.rf.dir != "" {
			return &exitError{2, "--root-dir goes with --offline-root"}
		}
		if *o.module != "" || *o.token != "" {
			return &exitError{2, "--root-pkcs11-module and --root-pkcs11-token go with --offline-root"}
		}
		return nil
	}
	dir := *o.rf.dir
	if dir == "" {
		return &exitError{2, "--offline-root needs --root-dir DIR (a directory apart from the data directory, ideally on removable media)"}
	}
	if ad, _ := filepath.Abs(dir); ad == mustAbs(a.cfg.data) {
		return &exitError{2, "--root-dir must not be the data directory: serve must never see the root key"}
	}
	if _, err := os.Stat(filepath.Join(dir, ca.RootKeyFileName)); err == nil {
		return &exitError{2, dir + " already holds an offline root"}
	}
	if (*o.module == "") != (*o.token == "") {
		return &exitError{2, "--root-pkcs11-module and --root-pkcs11-token go together"}
	}
	if *o.module != "" {
		if *o.shares > 0 {
			return &exitError{2, "the root is either in a PKCS#11 token or sealed under shares, not both"}
		}
		t := ca.RootToken{Module: *o.module, TokenLabel: *o.token}
		tok, err := o.rf.openToken(t)
		if err != nil {
			return err
		}
		a.closers = append(a.closers, o.rf.close)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("--root-dir: %w", err)
		}
		a.offlineRoot = ca.NewOfflineRootInitToken(tok, t)
		return nil
	}
	if (*o.shares == 0) != (*o.threshold == 0) {
		return &exitError{2, "--root-shares and --root-threshold go together, e.g. --root-shares 5 --root-threshold 3"}
	}
	if *o.shares > 0 {
		if *o.threshold < 2 || *o.threshold > *o.shares || *o.shares > shamir.MaxShares {
			return &exitError{2, fmt.Sprintf("need 2 <= --root-threshold <= --root-shares <= %d", shamir.MaxShares)}
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("--root-dir: %w", err)
		}
		var err error
		if a.offlineRoot, o.split, err = ca.NewOfflineRootInitShares(*o.shares, *o.threshold); err != nil {
			return &exitError{2, err.Error()}
		}
		return nil
	}
	pass, err := o.rf.passphrase()
	if err != nil {
		return err
	}
	defer clear(pass)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--root-dir: %w", err)
	}
	if a.offlineRoot, err = ca.NewOfflineRootInit(pass); err != nil {
		return &exitError{2, err.Error()}
	}
	return nil
}

func mustAbs(p string) string {
	a, _ := filepath.Abs(p)
	return a
}

// finish writes the root directory and signs and imports the first root
// CRL, while the new root key is still in memory.
func (o *offlineInit) finish(ctx context.Context, a *app, created bool, out io.Writer) error {
	if !*o.on {
		return nil
	}
	if !created {
		return &exitError{2, "the data directory already held a CA: --offline-root applies to a new one"}
	}
	if err := a.offlineRoot.WriteRootDir(ctx, *o.rf.dir, a.store); err != nil {
		return fmt.Errorf("writing the root directory (the hierarchy is stored, but its root key is not saved: delete the data directory and run init again): %w", err)
	}
	h, err := a.offlineRoot.RootHost(*o.rf.dir)
	if err != nil {
		return err
	}
	cfg, err := a.caConfig(ctx, "")
	if err != nil {
		return err
	}
	art, err := h.SignRootCRL(ctx, a.store, cfg, a.cfg.rootCRLValidity())
	if err != nil {
		return fmt.Errorf("the first root CRL: %w", err)
	}
	msg, err := ca.ImportArtefact(ctx, a.store, nil, cfg, "", art, a.actor)
	if err != nil {
		return err
	}
	where := "is sealed in " + filepath.Join(*o.rf.dir, ca.RootKeyFileName) + " (its own passphrase or shares)"
	if *o.module != "" {
		where = "is in the PKCS#11 token " + *o.token + " (non-extractable; " + filepath.Join(*o.rf.dir, ca.RootKeyFileName) + " names it)"
	}
	fmt.Fprintf(out, "offline root: its key %s; serve never opens it\n%s\n", where, msg)
	fmt.Fprintln(out, "Move the root directory to the root's host; sign the next root CRL there before this one lapses (vccpki ceremony sign-crl).")
	if len(o.split) > 0 {
		fmt.Fprintf(out, "\nThe root directory is sealed under %d shares of its own; any %d of them open it.\n", len(o.split), o.split[0].Threshold)
		fmt.Fprintln(out, "Give each share to one holder. They are shown only now and are not stored anywhere.")
		for i, s := range o.split {
			fmt.Fprintf(out, "root share %d: %s\n", i+1, s)
			s.Wipe()
		}
		fmt.Fprintf(out, "In a ceremony, %d holders type their shares into: vccpki ceremony … --root-shares-from -\n", o.split[0].Threshold)
	}
	return nil
}

// runCeremonySignCRL: vccpki ceremony sign-crl, on the root's host.
func runCeremonySignCRL(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("ceremony sign-crl", "--root-dir DIR --data STATE [--validity 90d] --out FILE", out)
	rf := addRootFlags(fs)
	validity := fs.String("validity", "", "nextUpdate - thisUpdate (default: crl.root_validity, 90d)")
	outPath := fs.String("out", "", "the artefact file to write (for vccpki ceremony import)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *outPath == "" {
		return &exitError{2, "ceremony sign-crl needs --out FILE"}
	}
	h, err := rf.open()
	if err != nil {
		return err
	}
	defer rf.close()
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	v := a.cfg.rootCRLValidity()
	if *validity != "" {
		if v, err = conf.ParseDuration(*validity); err != nil {
			return &exitError{2, "--validity: " + err.Error()}
		}
	}
	cfg, err := a.caConfig(ctx, "")
	if err != nil {
		return err
	}
	art, err := h.SignRootCRL(ctx, a.store, cfg, v)
	if err != nil {
		return caExit(err)
	}
	if err := writeArtefact(*outPath, art); err != nil {
		return err
	}
	fmt.Fprintf(out, "signed the root CRL (valid %s) into %s; on the serving side: vccpki ceremony import %s\n", v, *outPath, *outPath)
	return nil
}

// runCeremonyCreateCA: vccpki ceremony create-ca, on the root's host.
func runCeremonyCreateCA(ctx context.Context, args []string, out io.Writer) error {
	return runCeremonySignRequest(ctx, "create-ca", "the request file vccpki ca request wrote on the serving side", (*ca.RootHost).SignCA, args, out)
}

// runCeremonyRollover: vccpki ceremony rollover, on the root's host.
func runCeremonyRollover(ctx context.Context, args []string, out io.Writer) error {
	return runCeremonySignRequest(ctx, "rollover", "the request file vccpki ca rollover --request-out wrote on the serving side", (*ca.RootHost).SignRollover, args, out)
}

// runCeremonySignRequest is a ceremony that signs a request file with
// the root (create-ca, rollover).
func runCeremonySignRequest(ctx context.Context, cmd, reqHelp string, sign func(*ca.RootHost, context.Context, store.Store, ca.Config, *ca.CARequestFile) (*ca.Artefact, error), args []string, out io.Writer) error {
	fs, cf := newFlags("ceremony "+cmd, "--root-dir DIR --data STATE --request FILE --out FILE", out)
	rf := addRootFlags(fs)
	reqPath := fs.String("request", "", reqHelp)
	outPath := fs.String("out", "", "the artefact file to write (for vccpki ceremony import)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *reqPath == "" || *outPath == "" {
		return &exitError{2, "ceremony " + cmd + " needs --request FILE and --out FILE"}
	}
	b, err := readInput(*reqPath, ca.MaxArtefactSize)
	if err != nil {
		return err
	}
	req, err := ca.ParseCARequest(b)
	if err != nil {
		return caExit(err)
	}
	h, err := rf.open()
	if err != nil {
		return err
	}
	defer rf.close()
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	cfg, err := a.caConfig(ctx, "")
	if err != nil {
		return err
	}
	art, err := sign(h, ctx, a.store, cfg, req)
	if err != nil {
		return caExit(err)
	}
	if err := writeArtefact(*outPath, art); err != nil {
		return err
	}
	what := "the CA " + req.Name
	if req.Rollover {
		what = fmt.Sprintf("generation %d of the CA %s", req.Generation, req.Name)
	}
	fmt.Fprintf(out, "signed %s into %s; on the serving side: vccpki ceremony import %s\n", what, *outPath, *outPath)
	return nil
}

func writeArtefact(path string, art *ca.Artefact) error {
	b, err := art.Marshal()
	if err != nil {
		return err
	}
	return safefile.Write(path, b, 0o644)
}

// runCeremonyImport: vccpki ceremony import, on the serving side.
func runCeremonyImport(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("ceremony import", "FILE", out)
	file, err := parseOneArg(fs, args, "artefact FILE")
	if err != nil {
		return err
	}
	b, err := readInput(file, ca.MaxArtefactSize)
	if err != nil {
		return err
	}
	art, err := ca.ParseArtefact(b)
	if err != nil {
		return caExit(err)
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	var ks keys.Source
	var cfg ca.Config
	if art.Kind == ca.ArtefactCACert || art.Kind == ca.ArtefactCARollover { // the pending key signs the CA's OCSP responder
		ks, cfg, err = a.caKeys(ctx)
	} else {
		cfg, err = a.caConfig(ctx, "")
	}
	if err != nil {
		return err
	}
	msg, err := ca.ImportArtefact(ctx, a.store, ks, cfg, filepath.Join(a.cfg.data, ca.PendingCADir), art, a.actor)
	if err != nil {
		return caExit(err)
	}
	fmt.Fprintln(out, msg)
	fmt.Fprintln(out, "A running server takes it up within its refresh period (10 s).")
	return nil
}

// runCeremonyExportState: vccpki ceremony export-state, on the serving
// side: what the root's host reads, as a new SQLite file in OUT.
func runCeremonyExportState(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("ceremony export-state", "--out DIR", out)
	outDir := fs.String("out", "", "a new directory to write the state into (carry it to the root's host; use it there as --data)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *outDir == "" {
		return &exitError{2, "ceremony export-state needs --out DIR"}
	}
	if _, err := os.Stat(filepath.Join(*outDir, "vccpki.db")); err == nil {
		return &exitError{2, *outDir + " already holds a store: give a new directory"}
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := os.MkdirAll(*outDir, 0o700); err != nil {
		return err
	}
	to, err := sqlite.Open(ctx, filepath.Join(*outDir, "vccpki.db"))
	if err != nil {
		return err
	}
	defer to.Close()
	if err := ca.ExportState(ctx, a.store, to, a.actor); err != nil {
		return err
	}
	if err := a.audit(ctx, "ceremony.export-state", *outDir, "ok"); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote the CA records (no keys) to %s; on the root's host give it as --data (with the same --config)\n", *outDir)
	return nil
}

// runCARequest: vccpki ca request, on the serving side.
func runCARequest(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("ca request", "--name N [--parent root] [--key TYPE] [constraints…] --out FILE", out)
	outPath := fs.String("out", "", "the request file to carry to the root's host (vccpki ceremony create-ca --request FILE)")
	req, parseReq := addCARequestFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if req.Parent == "" {
		req.Parent = ca.RootCA
	}
	if *outPath == "" {
		return &exitError{2, "ca request needs --out FILE"}
	}
	if err := parseReq(); err != nil {
		return err
	}
	a, src, cfg, err := openCAKeys(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	rf, err := ca.RequestCA(ctx, a.store, src, cfg, *req, filepath.Join(a.cfg.data, ca.PendingCADir), a.actor)
	if err != nil {
		return caExit(err)
	}
	if err := writeCARequest(out, *outPath, rf); err != nil {
		return err
	}
	fmt.Fprintf(out, "On the root's host: vccpki ceremony create-ca --root-dir DIR --data STATE --request %s --out FILE; then here: vccpki ceremony import FILE\n", filepath.Base(*outPath))
	return nil
}

// writeCARequest writes a request file (vccpki ca request, vccpki ca
// rollover --request-out) and says so.
func writeCARequest(out io.Writer, path string, rf *ca.CARequestFile) error {
	b, err := rf.Marshal()
	if err != nil {
		return err
	}
	if err := safefile.Write(path, b, 0o644); err != nil {
		return err
	}
	fp := sha256.Sum256(rf.CSR)
	fmt.Fprintf(out, "made the key of %s (%s) and wrote its request to %s (CSR SHA-256 %X)\n", rf.Name, rf.KeyID, path, fp)
	return nil
}
