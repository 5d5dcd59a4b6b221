package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
)

// runCARollover: vccpki ca rollover. Flags only; ca.RolloverCA does the work.
func runCARollover(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("ca rollover", "--name N [--key TYPE] [--request-out FILE]", out)
	name := fs.String("name", "", "the issuing CA to give a new key and certificate (same name and subject)")
	keyType := fs.String("key", "", "key type of the new key: ecdsa-p256, ecdsa-p384, rsa-3072, ed25519, ... (default: the current key's)")
	rf := addRemoteFlags(fs)
	reqOut := fs.String("request-out", "", "the CA's parent is the offline root: make the new key and write its request to FILE, for vccpki ceremony rollover on the root's host")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *name == "" {
		return &exitError{2, "ca rollover needs --name"}
	}
	// A request for the offline root's ceremony is made where the keys are.
	if c, err := rf.client(); *reqOut == "" && (err != nil || c != nil) {
		if err != nil {
			return err
		}
		return remoteCARollover(ctx, c, out, *name, *keyType)
	}
	a, src, cfg, err := openCAKeys(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	req := ca.RolloverCARequest{Name: *name, KeyType: keys.Type(*keyType)}
	if *reqOut != "" {
		rf, err := ca.RequestRollover(ctx, a.store, src, cfg, req, filepath.Join(a.cfg.data, ca.PendingCADir), a.actor)
		if err != nil {
			return caExit(err)
		}
		if err := writeCARequest(out, *reqOut, rf); err != nil {
			return err
		}
		fmt.Fprintf(out, "On the root's host: vccpki ceremony rollover --root-dir DIR --data STATE --request %s --out FILE; then here: vccpki ceremony import FILE\n", filepath.Base(*reqOut))
		return nil
	}
	c, err := ca.RolloverCA(ctx, a.store, src, cfg, req, a.actor)
	if err != nil {
		return caExit(err)
	}
	fmt.Fprintf(out, "rolled over %s: new key, certificate serial %s, subject key identifier %x, and a new OCSP responder\n", *name, ca.FormatSerial(c.SerialNumber), c.SubjectKeyId)
	fmt.Fprintln(out, "A running server issues from the new key within its refresh period; the old key keeps signing its certificates' CRL and OCSP answers, and ACME renewal information asks their holders to renew now.")
	return nil
}
