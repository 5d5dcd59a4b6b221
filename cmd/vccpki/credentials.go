package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vcc/vccpki/store"
)

// The credentials a service enrols with (ACME EAB keys, EST Basic users)
// are listed and withdrawn here; secrets are never printed.

// runEABList lists the EAB keys: key ID, service, creation, bound account.
func runEABList(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("eab list", "[--json]", out)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	a, st, err := openAppStore(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	keys, err := st.EABKeys(ctx)
	if err != nil {
		return err
	}
	type view struct {
		KID     string    `json:"kid"`
		Service string    `json:"service"`
		Created time.Time `json:"created"`
		Account string    `json:"account,omitempty"`
	}
	rows := make([]view, len(keys))
	for i, k := range keys {
		rows[i] = view{k.KeyID, k.Service, k.CreatedAt, string(k.AccountID)}
	}
	return printList(out, *asJSON, rows, "KID\tSERVICE\tCREATED\tACCOUNT", func(v view) string {
		return fmt.Sprintf("%s\t%s\t%s\t%s", v.KID, orDash(v.Service), v.Created.Format(time.RFC3339), orDash(v.Account))
	})
}

// runEABRevoke withdraws an EAB key, and revokes the account it bound.
func runEABRevoke(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("eab revoke", "--kid KID", out)
	kid := fs.String("kid", "", "the key to withdraw (see vccpki eab list)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *kid == "" {
		return &exitError{2, "eab revoke needs --kid (see vccpki eab list)"}
	}
	a, st, err := openAppStore(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	ev := store.AuditEvent{Time: time.Now().UTC(), Actor: a.actor, Action: "acme.eab.revoke", Object: *kid, Result: "ok"}
	account, err := st.RevokeEABKey(ctx, *kid, ev)
	if errors.Is(err, store.ErrNotFound) {
		return &exitError{1, fmt.Sprintf("no EAB key %q (see vccpki eab list)", *kid)}
	}
	if err != nil {
		return err
	}
	if account == "" {
		_, err = fmt.Fprintf(out, "EAB key %s withdrawn; no account had used it\n", *kid)
	} else {
		_, err = fmt.Fprintf(out, "EAB key %s withdrawn; account %s, which it bound, is revoked\n", *kid, account)
	}
	return err
}

// runESTUserList lists the EST Basic users: name, service, creation.
func runESTUserList(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("est user list", "[--json]", out)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	a, st, err := openAppStore(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	users, err := st.ESTUsers(ctx)
	if err != nil {
		return err
	}
	type view struct {
		User    string    `json:"user"`
		Service string    `json:"service"`
		Created time.Time `json:"created"`
	}
	rows := make([]view, len(users))
	for i, u := range users {
		rows[i] = view{u.User, u.Service, u.CreatedAt}
	}
	return printList(out, *asJSON, rows, "USER\tSERVICE\tCREATED", func(v view) string {
		return fmt.Sprintf("%s\t%s\t%s", v.User, v.Service, v.Created.Format(time.RFC3339))
	})
}

// runESTUserRemove withdraws a user's EST Basic credentials; the next
// request with them is refused (the server reads the store every time).
func runESTUserRemove(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("est user remove", "--user USER", out)
	user := fs.String("user", "", "the user to remove (see vccpki est user list)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *user == "" {
		return &exitError{2, "est user remove needs --user (see vccpki est user list)"}
	}
	a, st, err := openAppStore(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	ev := store.AuditEvent{Time: time.Now().UTC(), Actor: a.actor, Action: "est.user.remove", Object: *user, Result: "ok"}
	err = st.RemoveESTUser(ctx, *user, ev)
	if errors.Is(err, store.ErrNotFound) {
		return &exitError{1, fmt.Sprintf("no EST user %q (see vccpki est user list)", *user)}
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "EST user %s removed\n", *user)
	return err
}

// openAppStore opens the app and returns it with its store.
func openAppStore(ctx context.Context, cf *commonFlags) (*app, store.Store, error) {
	a, err := openApp(ctx, cf)
	if err != nil {
		return nil, nil, err
	}
	return a, a.store, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
