package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/est"
	"github.com/vcc/vccpki/store"
)

// runESTGrant lets one EST client certificate (a profile and a serial)
// enrol for names beyond those it carries. A grant replaces an earlier
// one for the same certificate; it is audited with who made it.
func runESTGrant(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("est grant", "--profile NAME --serial HEX --names a,b,...", out)
	profileName := fs.String("profile", "", "the profile that issued the certificate (its EST label)")
	serialHex := fs.String("serial", "", "the client certificate's serial number, hex (see vccpki certs list)")
	namesFlag := fs.String("names", "", "comma-separated DNS names or IP addresses it may enrol for besides its own")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *profileName == "" || *serialHex == "" || *namesFlag == "" {
		return &exitError{2, "est grant needs --profile, --serial and --names"}
	}
	serial, err := ca.ParseSerial(*serialHex)
	if err != nil {
		return &exitError{2, "--serial: " + err.Error()}
	}
	a, st, err := openAppStore(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	p, ok := a.profiles.Get(*profileName)
	switch {
	case !ok:
		return &exitError{2, fmt.Sprintf("no profile %q (known: %s)", *profileName, strings.Join(a.profiles.Names(), ", "))}
	case !p.AllowsProtocol(profile.ProtocolEST) || !p.EST.Allows(profile.ESTAuthClientCert):
		return &exitError{2, fmt.Sprintf("profile %s does not accept EST client certificates (est.auth: %s)", p.Name, strings.Join(p.EST.Auth, ", "))}
	}
	cert, err := a.store.Certificate(ctx, ca.FormatSerial(serial))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &exitError{2, fmt.Sprintf("no certificate with serial %s (see vccpki certs list)", ca.FormatSerial(serial))}
	case err != nil:
		return err
	case cert.Profile != p.Name:
		return &exitError{2, fmt.Sprintf("certificate %s was issued from profile %s, not %s; it authenticates only there", cert.Serial, cert.Profile, p.Name)}
	case !cert.RevokedAt.IsZero():
		return &exitError{2, fmt.Sprintf("certificate %s is revoked", cert.Serial)}
	}
	names, err := est.GrantNames(p, *namesFlag)
	if err != nil {
		return &exitError{2, err.Error()}
	}
	now := time.Now().UTC()
	g := store.ESTGrant{Profile: p.Name, Serial: cert.Serial, Names: names, Actor: a.actor, CreatedAt: now}
	ev := store.AuditEvent{Time: now, Actor: a.actor, Action: "est.grant", Object: "certificate " + cert.Serial + " profile " + p.Name,
		Result: "ok: names " + strings.Join(names, ",")}
	if err := st.PutESTGrant(ctx, g, ev); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "certificate %s (profile %s) may enrol over EST for its own names and %s\n", cert.Serial, p.Name, strings.Join(names, ", "))
	return err
}

// runESTGrantList prints the grants.
func runESTGrantList(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("est grant list", "[--json]", out)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	a, st, err := openAppStore(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	grants, err := st.ESTGrants(ctx)
	if err != nil {
		return err
	}
	type view struct {
		Profile string    `json:"profile"`
		Serial  string    `json:"serial"`
		Names   []string  `json:"names"`
		By      string    `json:"granted_by"`
		Created time.Time `json:"created"`
	}
	rows := make([]view, len(grants))
	for i, g := range grants {
		rows[i] = view{g.Profile, g.Serial, g.Names, g.Actor, g.CreatedAt}
	}
	return printList(out, *asJSON, rows, "PROFILE\tSERIAL\tNAMES\tGRANTED BY\tCREATED", func(v view) string {
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s", v.Profile, v.Serial, strings.Join(v.Names, ","), v.By, v.Created.Format(time.RFC3339))
	})
}

// runESTGrantRemove withdraws a grant; the next enrolment is held to the
// certificate's own names again.
func runESTGrantRemove(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("est grant remove", "--profile NAME --serial HEX", out)
	profileName := fs.String("profile", "", "the grant's profile")
	serialHex := fs.String("serial", "", "the grant's certificate serial, hex")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *profileName == "" || *serialHex == "" {
		return &exitError{2, "est grant remove needs --profile and --serial (see vccpki est grant list)"}
	}
	serial, err := ca.ParseSerial(*serialHex)
	if err != nil {
		return &exitError{2, "--serial: " + err.Error()}
	}
	a, st, err := openAppStore(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	s := ca.FormatSerial(serial)
	ev := store.AuditEvent{Time: time.Now().UTC(), Actor: a.actor, Action: "est.grant.remove", Object: "certificate " + s + " profile " + *profileName, Result: "ok"}
	err = st.RemoveESTGrant(ctx, *profileName, s, ev)
	if errors.Is(err, store.ErrNotFound) {
		return &exitError{1, fmt.Sprintf("no EST grant for certificate %s in profile %s (see vccpki est grant list)", s, *profileName)}
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "EST grant for certificate %s (profile %s) removed\n", s, *profileName)
	return err
}
