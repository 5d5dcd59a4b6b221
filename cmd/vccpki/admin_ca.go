package main

import (
	"context"
	"fmt"
	"io"

	"github.com/vcc/vccpki/ca"
)

// runCAAddAdminCA gives a data directory made before the VCC Admin CA
// existed its Admin CA and OCSP responder (audited). New hierarchies get
// them at init.
func runCAAddAdminCA(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("ca add-admin-ca", "[--config FILE] [--data DIR]", out)
	if err := parse(fs, args); err != nil {
		return err
	}
	a, src, cfg, err := openCAKeys(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	added, err := ca.AddAdminCA(ctx, a.store, src, cfg, a.actor)
	if err != nil {
		return fmt.Errorf("adding the Admin CA: %w", err)
	}
	if !added {
		fmt.Fprintln(out, "the hierarchy already has the Admin CA and its OCSP responder")
		return nil
	}
	fmt.Fprintf(out, "added %s (%s) and its OCSP responder below the root\n", cfg.Hierarchy.Admin.CommonName, ca.AdminCA)
	fmt.Fprintln(out, "Restart every 'vccpki serve' on this store to accept Admin CA client certificates.")
	return nil
}
