package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/vcc/vccpki/ca/keys/backend"
	"github.com/vcc/vccpki/ca/keys/shamir"
)

// initKeyFlags are vccpki init's choices of where the new CA keys go.
type initKeyFlags struct {
	pkcs11    *bool
	module    *string
	token     *string
	slot      *int
	pinFile   *string
	shares    *int
	threshold *int
}

func addInitKeyFlags(fs *flag.FlagSet) *initKeyFlags {
	return &initKeyFlags{
		pkcs11:    fs.Bool("pkcs11", false, "generate the CA keys inside a PKCS#11 token (keys.backend: pkcs11); the PIN comes from $VCCPKI_PKCS11_PIN or --pkcs11-pin-file"),
		module:    fs.String("pkcs11-module", "", "PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so (overrides keys.pkcs11.module)"),
		token:     fs.String("pkcs11-token", "", "label of the token (overrides keys.pkcs11.token_label)"),
		slot:      fs.Int("pkcs11-slot", -1, "slot id of the token, instead of its label"),
		pinFile:   fs.String("pkcs11-pin-file", "", "file holding the token's user PIN (never give the PIN itself as a flag)"),
		shares:    fs.Int("shares", 0, "split the key-encryption key into N shares for an unseal ceremony (software key store)"),
		threshold: fs.Int("threshold", 0, "how many of the --shares open the key store"),
	}
}

// apply puts the flags into the configuration and returns the share split.
func (f *initKeyFlags) apply(c *config) (backend.Options, error) {
	p := &c.keys.PKCS11
	if *f.module != "" || *f.token != "" || *f.slot >= 0 || *f.pinFile != "" {
		*f.pkcs11 = true
	}
	if *f.pkcs11 {
		c.keys.Backend = backend.PKCS11
		if *f.module != "" {
			p.Module = *f.module
		}
		if *f.token != "" {
			p.TokenLabel, p.Slot = *f.token, nil
		}
		if *f.slot >= 0 {
			s := *f.slot
			p.Slot, p.TokenLabel = &s, ""
		}
		if *f.pinFile != "" {
			p.PINFile = *f.pinFile
		}
		if *f.token != "" && *f.slot >= 0 {
			return backend.Options{}, &exitError{2, "give --pkcs11-token or --pkcs11-slot, not both"}
		}
	}
	if (*f.shares == 0) != (*f.threshold == 0) {
		return backend.Options{}, &exitError{2, "--shares and --threshold go together, e.g. --shares 5 --threshold 3"}
	}
	if *f.shares != 0 {
		if *f.pkcs11 {
			return backend.Options{}, &exitError{2, "--shares is for the software key store; a PKCS#11 token guards its keys with its own PIN"}
		}
		if *f.threshold < 2 || *f.threshold > *f.shares || *f.shares > shamir.MaxShares {
			return backend.Options{}, &exitError{2, fmt.Sprintf("need 2 <= --threshold <= --shares <= %d", shamir.MaxShares)}
		}
	}
	return backend.Options{Shares: *f.shares, Threshold: *f.threshold}, nil
}

// printShares prints each share once, with what its holder must do.
func printShares(out io.Writer, shares []shamir.Share, next string) {
	if len(shares) == 0 {
		return
	}
	fmt.Fprintf(out, "\nThe key store is split into %d shares; any %d of them unseal it.\n", len(shares), shares[0].Threshold)
	fmt.Fprintln(out, "Give each share to one holder. They are shown only now and are not stored anywhere.")
	for i, s := range shares {
		fmt.Fprintf(out, "share %d: %s\n", i+1, s)
		s.Wipe()
	}
	fmt.Fprintf(out, "\nThe server starts sealed; %d holders each run '%s' and type their share.\n", shares[0].Threshold, next)
}

var errNoShares = errors.New("no share given")
