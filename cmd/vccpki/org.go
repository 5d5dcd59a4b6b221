package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vcc/vccpki/api"
	"github.com/vcc/vccpki/org"
	"github.com/vcc/vccpki/store"
)

// runOrgCreate: vccpki org create --name N --display "…"
func runOrgCreate(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("org create", `--name NAME --display "Display name"`, out)
	name := fs.String("name", "", "the organisation's name: a lowercase DNS label, used in /acme/<name>/directory")
	display := fs.String("display", "", "the organisation's display name")
	rf := addRemoteFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *name == "" || *display == "" {
		return &exitError{2, "org create needs --name and --display"}
	}
	var o api.Organisation
	if c, err := rf.client(); err != nil || c != nil {
		if err != nil {
			return err
		}
		v, err := c.CreateOrganisation(ctx, *name, *display)
		if err != nil {
			return remoteErr(err)
		}
		o = *v
	} else {
		a, err := openApp(ctx, cf)
		if err != nil {
			return err
		}
		defer a.Close()
		so, err := org.Create(ctx, a.store, *name, *display, a.actor, time.Now())
		if err != nil {
			return orgExit(err)
		}
		o = api.OrganisationOf(so)
	}
	fmt.Fprintf(out, "organisation=%s\nacme=/acme/%s/directory\nest=/.well-known/est/%s/<profile>/\n", o.Name, o.Name, o.Name)
	return nil
}

// runOrgAddCA: vccpki org add-ca --org N --ca CA
func runOrgAddCA(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("org add-ca", "--org NAME --ca CA", out)
	name := fs.String("org", "", "the organisation")
	caName := fs.String("ca", "", "the issuing CA it will own (see vccpki ca create)")
	rf := addRemoteFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *name == "" || *caName == "" {
		return &exitError{2, "org add-ca needs --org and --ca"}
	}
	if c, err := rf.client(); err != nil || c != nil {
		if err != nil {
			return err
		}
		if _, err := c.AddOrganisationCA(ctx, *name, *caName); err != nil {
			return remoteErr(err)
		}
	} else {
		a, err := openApp(ctx, cf)
		if err != nil {
			return err
		}
		defer a.Close()
		if err := org.AddCA(ctx, a.store, *name, *caName, a.actor, time.Now()); err != nil {
			return orgExit(err)
		}
	}
	fmt.Fprintf(out, "organisation=%s\nca=%s\n", *name, *caName)
	return nil
}

// runOrgList: vccpki org list [--json]
func runOrgList(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("org list", "[--json]", out)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	rf := addRemoteFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	rows := []api.Organisation{}
	if c, err := rf.client(); err != nil || c != nil {
		if err != nil {
			return err
		}
		if err := c.Organisations(ctx, func(o api.Organisation) error { rows = append(rows, o); return nil }); err != nil {
			return remoteErr(err)
		}
	} else {
		a, err := openApp(ctx, cf)
		if err != nil {
			return err
		}
		defer a.Close()
		all, err := org.List(ctx, a.store)
		if err != nil {
			return err
		}
		for _, o := range all {
			rows = append(rows, api.OrganisationOf(o))
		}
	}
	return printList(out, *asJSON, rows, "NAME\tDISPLAY\tCAS\tCREATED\tBY", func(o api.Organisation) string {
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s", o.Name, o.Display, orDash(strings.Join(o.CAs, ",")), o.CreatedAt.Format(time.RFC3339), o.CreatedBy)
	})
}

// runOrgShow: vccpki org show NAME [--json]
func runOrgShow(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("org show", "NAME [--json]", out)
	asJSON := fs.Bool("json", false, "print JSON")
	rf := addRemoteFlags(fs)
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if name == "" && fs.NArg() == 1 {
		name = fs.Arg(0)
	}
	if name == "" {
		return &exitError{2, "org show needs the organisation's name"}
	}
	var v api.Organisation
	if c, err := rf.client(); err != nil || c != nil {
		if err != nil {
			return err
		}
		o, err := c.Organisation(ctx, name)
		if err != nil {
			return remoteErr(err)
		}
		v = *o
	} else {
		a, err := openApp(ctx, cf)
		if err != nil {
			return err
		}
		defer a.Close()
		o, err := org.Show(ctx, a.store, name)
		if err != nil {
			return orgExit(err)
		}
		v = api.OrganisationOf(o)
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	fmt.Fprintf(out, "name=%s\ndisplay=%s\ncreated=%s\ncreated_by=%s\ncas=%s\n", v.Name, v.Display, v.CreatedAt.Format(time.RFC3339), v.CreatedBy, strings.Join(v.CAs, ","))
	return nil
}

// orgExit turns a refused argument or a missing or conflicting
// organisation into exit status 2, the usage error's.
func orgExit(err error) error {
	if errors.Is(err, org.ErrInvalid) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		return &exitError{2, err.Error()}
	}
	return err
}
