package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/ca/keys/backend"
	"github.com/vcc/vccpki/ca/keys/shamir"
	"github.com/vcc/vccpki/seal"
	"github.com/vcc/vccpki/store"
)

// The unseal ceremony, operator side: vccpki unseal and vccpki seal talk
// to the running server over the admin socket (package seal); vccpki
// rekey works on the store (the running server's keys stay open).

// stdinLines reads standard input line by line, one share per line, for
// all the shares one command reads (rekey reads several).
var stdinLines = bufio.NewReaderSize(os.Stdin, 4096)

// readShare reads one share: from a file ("-" for standard input), else
// typed at the terminal without echo, else a line of standard input.
func readShare(path, prompt string) (string, error) {
	if path != "" {
		b, err := readInput(path, shamir.MaxEncodedLen)
		return strings.TrimSpace(string(b)), err
	}
	fd := int(os.Stdin.Fd())
	if term.IsTerminal(fd) {
		fmt.Fprint(os.Stderr, prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		return strings.TrimSpace(string(b)), err
	}
	line, err := stdinLines.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if len(line) > shamir.MaxEncodedLen {
		return "", errors.New("the share on standard input is too long")
	}
	if strings.TrimSpace(line) == "" {
		return "", errNoShares
	}
	return strings.TrimSpace(line), nil
}

func runUnseal(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("unseal", "[--share-file FILE] [--status] [--reset]", out)
	file := fs.String("share-file", "", "read the share from this file (- for standard input) instead of the terminal")
	status := fs.Bool("status", false, "only show whether the server is sealed and how many shares it holds")
	reset := fs.Bool("reset", false, "discard the shares given so far")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(cf.config)
	if err != nil {
		return err
	}
	if cf.data != "" {
		cfg.data = cf.data
	}
	var st seal.Status
	switch {
	case *status:
		st, err = seal.Ask(ctx, cfg.data)
	case *reset:
		st, err = seal.Reset(ctx, cfg.data, operator())
	default:
		var share string
		if share, err = readShare(*file, "Unseal share (input hidden): "); err != nil {
			return err
		}
		if _, perr := shamir.ParseShare(share); perr != nil {
			// Caught here, before the server: a typing error costs nothing.
			return &exitError{2, perr.Error()}
		}
		st, err = seal.GiveShare(ctx, cfg.data, operator(), share)
	}
	if err != nil {
		return err
	}
	printStatus(out, st)
	return nil
}

func printStatus(out io.Writer, st seal.Status) {
	if st.Message != "" {
		fmt.Fprintln(out, st.Message)
	}
	state := "unsealed"
	if st.Sealed {
		state = fmt.Sprintf("sealed (%d of %d shares given)", st.Given, st.Threshold)
	}
	fmt.Fprintf(out, "server: %s; the key store is split into %d shares, %d needed\n", state, st.Shares, st.Threshold)
}

func runSeal(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("seal", "", out)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(cf.config)
	if err != nil {
		return err
	}
	if cf.data != "" {
		cfg.data = cf.data
	}
	st, err := seal.Seal(ctx, cfg.data, operator())
	if err != nil {
		return err
	}
	printStatus(out, st)
	return nil
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func runRekey(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("rekey", "--shares N --threshold K [--share-file FILE ...]", out)
	n := fs.Int("shares", 0, "number of new shares")
	k := fs.Int("threshold", 0, "how many new shares open the key store")
	var files stringList
	fs.Var(&files, "share-file", "a current share in a file (repeat for each); without it, each holder types theirs")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *k < 2 || *n < *k || *n > shamir.MaxShares {
		return &exitError{2, fmt.Sprintf("rekey needs --shares N --threshold K with 2 <= K <= N <= %d", shamir.MaxShares)}
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	rs := a.store
	params, err := backend.SharesParams(ctx, a.store)
	if err != nil {
		return err
	}
	if params == nil {
		return errors.New("this CA's key store is not split into shares (vccpki init --shares); there is nothing to rekey")
	}
	info, err := keys.ParseShares(params)
	if err != nil {
		return err
	}
	var current []shamir.Share
	defer func() {
		for _, s := range current {
			s.Wipe()
		}
	}()
	for i := 0; len(current) < info.Threshold; i++ {
		path := ""
		if i < len(files) {
			path = files[i]
		} else if len(files) > 0 {
			break
		}
		text, err := readShare(path, fmt.Sprintf("Current share %d of %d (input hidden): ", len(current)+1, info.Threshold))
		if err != nil {
			return err
		}
		s, err := shamir.ParseShare(text)
		if err == nil {
			err = keys.CheckShare(info, current, s)
		}
		if err != nil {
			_ = a.audit(ctx, "rekey", "key store", "refused: "+err.Error())
			return &exitError{2, err.Error()}
		}
		current = append(current, s)
	}
	if len(current) < info.Threshold {
		_ = a.audit(ctx, "rekey", "key store", fmt.Sprintf("refused: %d of %d current shares", len(current), info.Threshold))
		return &exitError{2, fmt.Sprintf("rekey needs %d current shares, got %d", info.Threshold, len(current))}
	}
	next, shares, err := keys.Rekey(params, current, *n, *k)
	if err != nil {
		_ = a.audit(ctx, "rekey", "key store", "refused: "+err.Error())
		return err
	}
	ev := store.AuditEvent{Actor: a.actor, Action: "rekey", Object: "key store",
		Result: fmt.Sprintf("ok: %d-of-%d split %s replaced by %d-of-%d split %s", info.Threshold, info.Shares, info.Set, *k, *n, shares[0].Set)}
	if err := rs.ReplaceKey(ctx, keys.KEKRecordID, params, next, ev); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errors.New("another rekey changed the key store at the same time; nothing changed here, run rekey again with the current shares")
		}
		return err
	}
	fmt.Fprintf(out, "rekeyed: the old shares (split %s) no longer open the key store; the CA keys are unchanged.\n", info.Set)
	printShares(out, shares, "vccpki unseal")
	return nil
}
