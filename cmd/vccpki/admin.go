package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/store"
)

func runInit(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("init", "[--config FILE] [--data DIR] [--pkcs11 ...] [--shares N --threshold K] [--offline-root --root-dir DIR]", out)
	keyFlags := addInitKeyFlags(fs)
	offline := addOfflineInitFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	ik, err := keyFlags.apply(a.cfg)
	if err != nil {
		return err
	}
	if err := offline.prepare(a); err != nil {
		return err
	}
	e, kb, created, err := a.engineWith(ctx, "", true, nil, ik)
	if err != nil {
		return err
	}
	if err := offline.finish(ctx, a, created, out); err != nil {
		return err
	}
	root, err := a.writeRoot(e)
	if err != nil {
		return err
	}
	// The ACME secrets' box, so that eab create works before the first serve.
	if _, err := acme.OpenSecretBox(ctx, a.store, e.SecretSealer()); err != nil {
		return err
	}
	state := "already initialised; nothing changed"
	if created {
		state = "created the CA hierarchy"
	}
	fp := sha256.Sum256(e.Root().Raw)
	fmt.Fprintf(out, "%s in %s\nroot certificate: %s\nroot SHA-256 fingerprint: %X\n", state, a.cfg.data, root, fp)
	if created && len(kb.Shares) > 0 {
		printShares(out, kb.Shares, "vccpki unseal")
	}
	return nil
}

func runIssue(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("issue", "--profile NAME --csr FILE", out)
	profileName := fs.String("profile", "", "profile template to issue from (see vccpki profiles list)")
	csrPath := fs.String("csr", "", "PKCS#10 request, PEM or DER; - for standard input")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *profileName == "" || *csrPath == "" {
		return &exitError{2, "issue needs --profile and --csr"}
	}
	csr, err := readInput(*csrPath, ca.MaxCSRSize)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	e, _, err := a.engine(ctx, "", false, nil)
	if err != nil {
		return err
	}
	user := a.actor // local:<user>: the engine records operator:local:<user>
	issued, err := e.Issue(ctx, ca.IssueRequest{Profile: *profileName, CSR: csr, Requester: ca.Requester{Protocol: ca.ProtocolOperator, Subject: user}})
	if err != nil {
		return err
	}
	for _, w := range issued.Warnings {
		fmt.Fprintln(os.Stderr, "lint warning:", w)
	}
	_, err = out.Write(issued.PEM())
	return err
}

// readInput reads a file or standard input ("-"), refusing more than limit
// bytes, so a wrong path cannot make the command read a huge file.
func readInput(path string, limit int64) ([]byte, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, caerr.New(caerr.Malformed, "%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

func runRevoke(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("revoke", "--serial HEX --reason REASON", out)
	serialHex := fs.String("serial", "", "serial number in hex (colons allowed, as openssl prints it)")
	reasonName := fs.String("reason", "unspecified", "RFC 5280 reason: unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn")
	rf := addRemoteFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *serialHex == "" {
		return &exitError{2, "revoke needs --serial"}
	}
	serial, err := ca.ParseSerial(*serialHex)
	if err != nil {
		return err
	}
	reason, err := ca.ParseReason(*reasonName)
	if err != nil {
		return err
	}
	if c, err := rf.client(); err != nil || c != nil {
		if err != nil {
			return err
		}
		return remoteRevoke(ctx, c, out, ca.FormatSerial(serial), reason)
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	// Revocation signs nothing, so it needs no passphrase: the store holds
	// the hierarchy's certificates, and the engine opens without keys.
	e, err := a.keylessEngine(ctx)
	if err != nil {
		return err
	}
	user := a.actor // local:<user>: the engine records operator:local:<user>
	if err := e.Revoke(ctx, serial, reason, ca.Requester{Protocol: ca.ProtocolOperator, Subject: user}); err != nil {
		return err
	}
	fmt.Fprintf(out, "revoked %s (%s)\n", ca.FormatSerial(serial), reason)
	return nil
}

// certView is one row of certs list, also its --json form.
type certView struct {
	Serial    string    `json:"serial"`
	Profile   string    `json:"profile"`
	Issuer    string    `json:"issuer"`
	Subject   string    `json:"subject"`
	Names     []string  `json:"names"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Status    string    `json:"status"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Requester string    `json:"requester"`
}

func runCertsList(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("certs list", "[--service NAME] [--expiring 30d] [--all] [--json]", out)
	service := fs.String("service", "", "only certificates of this service's profile")
	expiring := fs.String("expiring", "", "only certificates that expire within this time (e.g. 30d, 72h)")
	all := fs.Bool("all", false, "include expired certificates")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	rf := addRemoteFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	now := time.Now()
	f := store.CertFilter{Profile: *service}
	if *expiring != "" {
		d, err := parseDuration(*expiring)
		if err != nil {
			return &exitError{2, "--expiring: " + err.Error()}
		}
		f.ExpiringBefore = now.Add(d)
	}
	if c, err := rf.client(); err != nil || c != nil {
		if err != nil {
			return err
		}
		return remoteCertsList(ctx, c, out, *service, f.ExpiringBefore, *all, *asJSON)
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	if *service != "" {
		if _, ok := a.profiles.Get(*service); !ok {
			return fmt.Errorf("no profile named %q (known: %s)", *service, strings.Join(a.profiles.Names(), ", "))
		}
	}
	// Printed as it comes, page by page: bounded memory for any store.
	list := newCertPrinter(out, *asJSON)
	err = ca.ListCertificates(ctx, a.store, f, certsPage, now, func(c store.Certificate, status string) error {
		if status == ca.ListedExpired && !*all {
			return nil
		}
		return list.add(certView{c.Serial, c.Profile, c.Issuer, c.Subject, c.Names, c.NotBefore, c.NotAfter, status, c.RevokedAt, c.Requester})
	}, list.flush)
	if err != nil {
		return err
	}
	if err := list.end(); err != nil {
		return err
	}
	return a.audit(ctx, "certs.list", "certificates", fmt.Sprintf("ok: %d listed", list.n))
}

// certsPage is how many certificates certs list reads at a time.
var certsPage = ca.DefaultListPage

// certPrinter prints certificate rows as they come: a JSON array for
// machines, or a table for people (aligned page by page).
type certPrinter struct {
	out    io.Writer
	asJSON bool
	tw     *tabwriter.Writer
	n      int
}

func newCertPrinter(out io.Writer, asJSON bool) *certPrinter {
	p := &certPrinter{out: out, asJSON: asJSON}
	if !asJSON {
		p.tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(p.tw, "SERIAL\tPROFILE\tSUBJECT\tNOT AFTER\tSTATUS")
	}
	return p
}

func (p *certPrinter) add(r certView) error {
	p.n++
	if !p.asJSON {
		_, err := fmt.Fprintln(p.tw, strings.Join([]string{r.Serial, r.Profile, r.Subject, r.NotAfter.UTC().Format(time.RFC3339), r.Status}, "\t"))
		return err
	}
	b, err := json.MarshalIndent(r, "  ", "  ")
	if err != nil {
		return err
	}
	sep := ",\n  "
	if p.n == 1 {
		sep = "[\n  "
	}
	_, err = fmt.Fprintf(p.out, "%s%s", sep, b)
	return err
}

func (p *certPrinter) flush() error {
	if p.tw != nil {
		return p.tw.Flush()
	}
	return nil
}

func (p *certPrinter) end() error {
	if p.tw != nil {
		return p.tw.Flush()
	}
	if p.n == 0 {
		_, err := fmt.Fprintln(p.out, "[]")
		return err
	}
	_, err := fmt.Fprintln(p.out, "\n]")
	return err
}

// printList prints rows as indented JSON for machines or as a table for
// people, one tab-separated line per row.
func printList[T any](out io.Writer, asJSON bool, rows []T, header string, line func(T) string) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, line(r))
	}
	return tw.Flush()
}

func runProfilesList(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("profiles list", "[--json]", out)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	type view struct {
		Name        string   `json:"name"`
		Description string   `json:"description"`
		Issuer      string   `json:"issuer"`
		Protocols   []string `json:"protocols"`
		Validity    string   `json:"validity"`
	}
	var rows []view
	for _, p := range a.profiles.All() {
		rows = append(rows, view{p.Name, p.Description, p.Issuer, p.Protocols, p.Validity.String()})
	}
	if err := a.audit(ctx, "profiles.list", "profiles", fmt.Sprintf("ok: %d listed", len(rows))); err != nil {
		return err
	}
	return printList(out, *asJSON, rows, "NAME\tISSUER\tPROTOCOLS\tVALIDITY\tDESCRIPTION", func(r view) string {
		return strings.Join([]string{r.Name, r.Issuer, strings.Join(r.Protocols, ","), r.Validity, r.Description}, "\t")
	})
}

func runAuditVerify(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("audit verify", "", out)
	anchorFlag := fs.String("anchor", "", "a head printed by an earlier run (SEQ:HASH), kept outside the database: detects entries removed from the end")
	rf := addRemoteFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	var anchor store.AuditHead
	if *anchorFlag != "" {
		var err error
		if anchor, err = store.ParseAuditHead(*anchorFlag); err != nil {
			return &exitError{2, err.Error()}
		}
	}
	if c, err := rf.client(); err != nil || c != nil {
		if err != nil {
			return err
		}
		return remoteAuditVerify(ctx, c, out, anchor, *anchorFlag)
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	head, err := store.VerifyAuditAnchored(ctx, a.store, anchor)
	var p *store.AuditProblem
	if errors.As(err, &p) {
		_ = a.audit(ctx, "audit.verify", "audit log", "broken: "+p.Error())
		return auditVerified(out, head, anchor, p)
	}
	if err != nil {
		return err
	}
	// The head printed is the chain as verified, before this run's own entry.
	if err := a.audit(ctx, "audit.verify", "audit log", fmt.Sprintf("ok: %d entries", head.Seq)); err != nil {
		return err
	}
	return auditVerified(out, head, anchor, nil)
}
