package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/est"
	"github.com/vcc/vccpki/store"
)

// runESTUserAdd creates HTTP Basic credentials for EST, bound to one
// service (a profile open to EST that accepts basic). The password is
// generated and printed once, or read from standard input; only its
// argon2id hash is stored.
func runESTUserAdd(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("est user add", "--service NAME --user USER [--password-stdin]", out)
	service := fs.String("service", "", "the profile (EST label) the credentials may enrol in")
	user := fs.String("user", "", "user name (no colon, RFC 7617 §2)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input instead of generating one")
	rf := addRemoteFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *service == "" || *user == "" {
		return &exitError{2, "est user add needs --service and --user"}
	}
	if err := est.CheckUserName(*user); err != nil {
		return &exitError{2, err.Error()}
	}
	if c, err := rf.client(); err != nil || c != nil {
		switch {
		case err != nil:
			return err
		case *fromStdin:
			return &exitError{2, "--password-stdin is for the local store; through the API the server generates the password"}
		}
		return remoteESTUserAdd(ctx, c, out, *service, *user)
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	p, ok := a.profiles.Get(*service)
	switch {
	case !ok:
		return &exitError{2, fmt.Sprintf("no profile %q (known: %s)", *service, strings.Join(a.profiles.Names(), ", "))}
	case !p.AllowsProtocol(profile.ProtocolEST):
		return &exitError{2, fmt.Sprintf("profile %s is not open to EST", p.Name)}
	case !p.EST.Allows(profile.ESTAuthBasic):
		return &exitError{2, fmt.Sprintf("profile %s does not accept basic credentials (est.auth: %s)", p.Name, strings.Join(p.EST.Auth, ", "))}
	}
	password, generated := "", false
	if *fromStdin {
		line, err := bufio.NewReader(io.LimitReader(os.Stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		password = strings.TrimRight(line, "\r\n")
		if len(password) < 12 {
			return &exitError{2, "the password on standard input must be at least 12 characters"}
		}
	} else {
		if password, err = est.GeneratePassword(); err != nil {
			return err
		}
		generated = true
	}
	if err := addESTUser(ctx, a, p, *user, password); err != nil {
		return err
	}
	fmt.Fprintf(out, "user=%s\nservice=%s\n", *user, p.Name)
	if generated {
		// Shown once: only the hash is kept.
		fmt.Fprintf(out, "password=%s\n", password)
	}
	return nil
}

// addESTUser stores the argon2id hash of password for user, bound to
// service, with its audit entry (also used by vccpki enrol).
func addESTUser(ctx context.Context, a *app, p *profile.Profile, user, password string) error {
	err := est.AddUser(ctx, a.store, p.Organisation, p.Name, user, password, a.actor, time.Now())
	if errors.Is(err, store.ErrConflict) {
		return &exitError{2, fmt.Sprintf("EST user %q exists", user)}
	}
	return err
}
