package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vcc/vccpki/acme"
	"github.com/vcc/vccpki/est"
	"github.com/vcc/vccpki/fleet"
)

// runEnrol creates the credential that binds a service's client to its
// profile (an ACME EAB key, or EST Basic credentials) and prints the
// recipe that service's client runs: the first certificate, the renewal
// script, a systemd timer and a cron line. With --out the files are also
// written there. The service's key is made on the service host.
func runEnrol(ctx context.Context, args []string, out io.Writer) error {
	// The service name comes first (vccpki enrol argus --out DIR); the
	// flag package stops at the first argument, so take it off here.
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fs, _ := enrolFlags(out)
			fs.Usage()
			return nil
		}
		return &exitError{2, "enrol needs the service name first: vccpki enrol SERVICE [flags] (see configs/services.yaml)"}
	}
	name := args[0]
	fs, f := enrolFlags(out)
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	a, err := openApp(ctx, f.common)
	if err != nil {
		return err
	}
	defer a.Close()
	reg, err := a.loadRegistry(f.services)
	if err != nil {
		return err
	}
	svc, ok := reg.Get(name)
	if !ok {
		return &exitError{2, fmt.Sprintf("no service %q in the registry (known: %s)", name, strings.Join(reg.Names(), ", "))}
	}
	p, _ := a.profiles.Get(svc.Profile)
	e, err := a.keylessEngine(ctx)
	if err != nil {
		return err
	}
	base := strings.TrimRight(f.server, "/")
	if base == "" {
		base = strings.TrimRight(a.cfg.acme.ExternalURL, "/")
	}
	if base == "" {
		base = "https://" + a.cfg.httpsAddr
	}
	in := fleet.RecipeInput{
		Service: svc, Profile: p, ACMEDirectory: base + "/acme/directory", ESTBase: base, Email: f.email,
		RootPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.Root().Raw}),
	}
	// The credential is made last but one: a recipe that cannot be
	// written leaves no unused credential behind.
	if _, err := fleet.Recipe(in); err != nil {
		return err
	}
	switch svc.Protocol {
	case fleet.ProtocolACME:
		st := a.store
		if in.EABKeyID, in.EABHMAC, err = acme.CreateEABKey(ctx, st, p.Organisation, p.Name, a.actor, time.Now()); err != nil {
			return err
		}
	case fleet.ProtocolEST:
		in.ESTUser = f.user
		if in.ESTUser == "" {
			suffix := make([]byte, 4)
			if _, err := rand.Read(suffix); err != nil {
				return err
			}
			in.ESTUser = svc.Name + "-" + hex.EncodeToString(suffix)
		}
		if err := est.CheckUserName(in.ESTUser); err != nil {
			return &exitError{2, err.Error()}
		}
		if in.ESTPassword, err = est.GeneratePassword(); err != nil {
			return err
		}
		if err := addESTUser(ctx, a, p, in.ESTUser, in.ESTPassword); err != nil {
			return err
		}
	}
	files, err := fleet.Recipe(in)
	if err != nil {
		return err
	}
	if err := a.audit(ctx, "fleet.enrol", "service "+svc.Name, "ok: "+svc.Protocol+" credential for profile "+p.Name+", recipe for "+svc.Client); err != nil {
		return err
	}
	if f.outDir != "" {
		if err := fleet.WriteRecipe(f.outDir, files); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "# vccpki enrol %s: %s with %s, profile %s (validity %s, renewal window from %.0f%% of the lifetime left)\n",
		svc.Name, strings.ToUpper(svc.Protocol), svc.Client, p.Name, p.Validity, p.RenewalFraction*100)
	if f.outDir != "" {
		fmt.Fprintf(out, "# written to %s\n", f.outDir)
	}
	for _, rf := range files {
		secret := ""
		if rf.Secret {
			secret = " [holds the credential, shown once]"
		}
		fmt.Fprintf(out, "\n# ==> %s: %s%s\n%s", rf.Name, rf.Purpose, secret, rf.Body)
	}
	return nil
}

type enrolOptions struct {
	common   *commonFlags
	services string
	server   string
	email    string
	user     string
	outDir   string
}

func enrolFlags(out io.Writer) (*flag.FlagSet, *enrolOptions) {
	fs, cf := newFlags("enrol", "SERVICE [--server https://HOST:PORT] [--out DIR] [--email ADDR] [--user NAME]", out)
	o := &enrolOptions{common: cf}
	fs.StringVar(&o.services, "services", "", "service registry (default: the configuration's fleet.services)")
	fs.StringVar(&o.server, "server", "", "the CA's HTTPS base URL the service reaches (default: acme.external_url, else https://<https_addr>)")
	fs.StringVar(&o.email, "email", "", "contact address for the ACME account (optional)")
	fs.StringVar(&o.user, "user", "", "EST user name (default: SERVICE-<random>)")
	fs.StringVar(&o.outDir, "out", "", "also write the recipe's files into this directory")
	return fs, o
}
