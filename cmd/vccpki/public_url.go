package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/vcc/vccpki/ca"
)

// The public URL is stored with the CA (ca.AdoptPublicURL); this file holds
// the one command that changes it and serve's refusal to contradict it.

func runCASetPublicURL(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("ca set-public-url", "[--config FILE] [--data DIR] URL", out)
	pub, err := parseOneArg(fs, args, "URL")
	if err != nil {
		return err
	}
	if pub, err = ca.NormalizePublicURL(pub); err != nil {
		return &exitError{2, err.Error()}
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	old, err := ca.SetPublicURL(ctx, a.store, pub, a.actor)
	if err != nil {
		return err
	}
	switch old {
	case pub:
		fmt.Fprintf(out, "the public URL stays %s\n", pub)
	case "":
		fmt.Fprintf(out, "the public URL is now %s\n", pub)
	default:
		fmt.Fprintf(out, "the public URL is now %s (was %s)\n"+
			"Certificates already issued keep naming %s: keep it served until they expire.\n", pub, old, old)
	}
	fmt.Fprintln(out, "Restart every 'vccpki serve' on this store: a running server keeps the URL it started with.")
	return nil
}

// refuseOtherPublicURL: serve does not start when an explicit public URL
// (from source: the flag or the configuration) contradicts the one stored
// with the CA, since its certificates and CRLs would name other URLs than
// the other processes'. The error gives the command that changes it.
func (a *app) refuseOtherPublicURL(ctx context.Context, explicit, source string) error {
	if explicit == "" {
		return nil
	}
	stored, err := ca.StoredPublicURL(ctx, a.store)
	if err != nil || stored == "" || stored == explicit {
		return err
	}
	cmd := []string{"vccpki ca set-public-url"}
	if a.cfg.file != "" {
		cmd = append(cmd, "--config", a.cfg.file)
	}
	cmd = append(cmd, "--data", a.cfg.data, explicit)
	return fmt.Errorf("%s %s contradicts the public URL stored with the CA, %s, which certificates and CRLs name; "+
		"serve without it to use %s, or change the stored URL (audited) with: %s",
		source, explicit, stored, stored, strings.Join(cmd, " "))
}
