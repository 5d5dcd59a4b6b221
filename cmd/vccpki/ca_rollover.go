package main

import (
	"context"
	"fmt"
	"io"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/keys/backend"
)

// runCARollover: vccpki ca rollover. Flags only; ca.RolloverCA does the work.
func runCARollover(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("ca rollover", "--name N [--key TYPE]", out)
	name := fs.String("name", "", "the issuing CA to give a new key and certificate (same name and subject)")
	keyType := fs.String("key", "", "key type of the new key: ecdsa-p256, ecdsa-p384, rsa-3072, ed25519, ... (default: the current key's)")
	rf := addRemoteFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *name == "" {
		return &exitError{2, "ca rollover needs --name"}
	}
	if c, err := rf.client(); err != nil || c != nil {
		if err != nil {
			return err
		}
		return remoteCARollover(ctx, c, out, *name, *keyType)
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	kb, err := backend.Open(ctx, a.store, a.cfg.keys, backend.Options{Data: a.cfg.data, Log: a.log})
	if err != nil {
		return err
	}
	a.closers = append(a.closers, kb.Close)
	cfg, err := a.caConfig(ctx, "")
	if err != nil {
		return err
	}
	c, err := ca.RolloverCA(ctx, a.store, kb.Source, cfg, ca.RolloverCARequest{Name: *name, KeyType: keys.Type(*keyType)}, a.actor)
	if err != nil {
		return caExit(err)
	}
	fmt.Fprintf(out, "rolled over %s: new key, certificate serial %s, subject key identifier %x, and a new OCSP responder\n", *name, ca.FormatSerial(c.SerialNumber), c.SubjectKeyId)
	fmt.Fprintln(out, "A running server issues from the new key within its refresh period; the old key keeps signing its certificates' CRL and OCSP answers, and ACME renewal information asks their holders to renew now.")
	return nil
}
