package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/internal/conf"
	"github.com/vcc/vccpki/internal/frontend"
)

// runCACreate: vccpki ca create. Flags only; ca.CreateCA does the work.
func runCACreate(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("ca create", "--name N --parent P [--key TYPE] [--permitted-dns D ...] [--excluded-dns D ...] [--permitted-ip CIDR ...] [--excluded-ip CIDR ...] [--path-len 0] [--validity 5y] [--cn NAME]", out)
	req, parseReq := addCARequestFlags(fs)
	fs.StringVar(&req.Organisation, "org", "", "the organisation that owns the CA (vccpki org create); its profiles may name it. Default: the operator")
	rf := addRemoteFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if req.Name == "" || req.Parent == "" {
		return &exitError{2, "ca create needs --name and --parent"}
	}
	if err := parseReq(); err != nil {
		return err
	}
	if c, err := rf.client(); err != nil || c != nil {
		if err != nil {
			return err
		}
		return remoteCACreate(ctx, c, out, req)
	}
	name, parent := &req.Name, &req.Parent
	a, src, cfg, err := openCAKeys(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	c, err := ca.CreateCA(ctx, a.store, src, cfg, *req, a.actor)
	if err != nil {
		return caExit(err)
	}
	fmt.Fprintf(out, "created %s (%q, serial %s) below %s, and its OCSP responder\n", *name, c.Subject.CommonName, ca.FormatSerial(c.SerialNumber), *parent)
	fmt.Fprintf(out, "certificate: %s/ca/%s.crt  CRL: %s/crl/%s.crl\n", cfg.PublicURL, *name, cfg.PublicURL, *name)
	if req.Organisation != "" {
		fmt.Fprintf(out, "owned by organisation %s: its profiles may name issuer: %s\n", req.Organisation, *name)
	}
	fmt.Fprintln(out, "A running server takes it up within its refresh period; profiles naming it load on the next start.")
	return nil
}

// addCARequestFlags defines the flags of a new CA (ca create, ca
// request); the returned func fills the request once they are parsed.
func addCARequestFlags(fs *flag.FlagSet) (*ca.CreateCARequest, func() error) {
	req := &ca.CreateCARequest{}
	fs.StringVar(&req.Name, "name", "", "the new CA's name (lowercase letters, digits, dashes): /ca/<name>.crt, /crl/<name>.crl, a profile's issuer")
	fs.StringVar(&req.Parent, "parent", "", "the CA that signs it: root or an issuing CA whose path length allows it")
	keyType := fs.String("key", "", "key type: ecdsa-p256, ecdsa-p384, rsa-3072, ed25519, ... (default: the Services CA's); the key lives in the configured key source")
	fs.IntVar(&req.PathLen, "path-len", 0, "pathLenConstraint: 0 signs only end-entity certificates, 1 allows issuing CAs below it")
	validity := fs.String("validity", "", "lifetime, e.g. 5y or 1825d (default: the Services CA's; never past the parent's)")
	fs.StringVar(&req.CommonName, "cn", "", "the certificate's common name (default: \"<organization> <name> CA\")")
	var pIP, xIP []string
	for _, f := range []struct {
		name, usage string
		into        *[]string
	}{
		{"permitted-dns", "a DNS subtree the CA may issue for (repeat); .example.org: subdomains only", &req.PermittedDNS},
		{"excluded-dns", "a DNS subtree the CA may not issue for (repeat)", &req.ExcludedDNS},
		{"permitted-ip", "an IP network (CIDR) the CA may issue for (repeat)", &pIP},
		{"excluded-ip", "an IP network (CIDR) the CA may not issue for (repeat)", &xIP},
	} {
		fs.Func(f.name, f.usage, func(v string) error { *f.into = append(*f.into, v); return nil })
	}
	return req, func() error {
		req.KeyType = keys.Type(*keyType)
		var err error
		if *validity != "" {
			if req.Validity, err = conf.ParseDuration(*validity); err != nil {
				return &exitError{2, "--validity: " + err.Error()}
			}
		}
		if req.PermittedIP, err = ca.ParseCIDRs(pIP); err != nil {
			return &exitError{2, "--permitted-ip: " + err.Error()}
		}
		if req.ExcludedIP, err = ca.ParseCIDRs(xIP); err != nil {
			return &exitError{2, "--excluded-ip: " + err.Error()}
		}
		return nil
	}
}

// runCARevoke: vccpki ca revoke.
func runCARevoke(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("ca revoke", "--name N --reason R [--force] [--list]", out)
	name := fs.String("name", "", "the issuing CA to revoke")
	reason := fs.String("reason", "", "cACompromise, keyCompromise, superseded, cessationOfOperation or affiliationChanged")
	force := fs.Bool("force", false, "also revoke the CA that signs this server's HTTPS certificate")
	list := fs.Bool("list", false, "print every still-valid certificate the CA issued (serial, not after, subject)")
	rf := addRemoteFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *name == "" || *reason == "" {
		return &exitError{2, "ca revoke needs --name and --reason"}
	}
	r, err := ca.ParseCAReason(*reason)
	if err != nil {
		return &exitError{2, err.Error()}
	}
	if c, err := rf.client(); err != nil || c != nil {
		switch {
		case err != nil:
			return err
		case *list:
			return &exitError{2, "--list is for the local store; through the API the revocation waits for a second pki_admin's approval, whose result counts the certificates"}
		}
		return remoteCARevoke(ctx, c, out, *name, r, *force)
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	// Revocation signs nothing: the engine opens without keys.
	e, err := a.keylessEngine(ctx)
	if err != nil {
		return err
	}
	if err := e.RevokeCA(ctx, ca.RevokeCARequest{Name: *name, Reason: r, Force: *force}, a.actor); err != nil {
		return caExit(err)
	}
	certs, err := e.CertificatesUnder(ctx, *name)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "revoked the %s CA (%s); %d valid certificates were issued under it and must be renewed under another CA\n", *name, r, len(certs))
	if *list {
		for _, c := range certs {
			fmt.Fprintf(out, "%s\t%s\t%s\t%s\n", c.Serial, c.NotAfter.UTC().Format("2006-01-02T15:04:05Z"), c.Subject, strings.Join(c.Names, ","))
		}
	}
	return nil
}

// caExit makes a refusal of the engine an exit status 2 with its text.
func caExit(err error) error {
	var ce *caerr.Error
	if errors.As(err, &ce) && !errors.Is(err, caerr.Internal) {
		return &exitError{2, err.Error()}
	}
	return err
}

// caRefresher is serve's background reader of the CA records: a CA that
// vccpki ca create added, or that another process revoked, is taken up
// within every (a CA revoked through this server stops at once).
type caRefresher struct {
	e     *ca.Engine
	log   *slog.Logger
	every time.Duration
	// rootWarn: how long before an offline root's CRL lapses to warn.
	rootWarn time.Duration
}

func (r *caRefresher) Register(frontend.Muxes) {}
func (r *caRefresher) Banner() []string        { return nil }
func (r *caRefresher) Run(ctx context.Context) error {
	frontend.Repeat(ctx, r.every, func() {
		added, err := r.e.Refresh(ctx)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			r.log.Error("reading the CA records", "err", err)
		case len(added) > 0:
			r.log.Info("new CAs in the hierarchy", "cas", strings.Join(added, ", "))
		}
		r.e.CheckRootCRL(r.log, r.rootWarn)
	})
	return nil
}
