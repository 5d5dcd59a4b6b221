package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/vcc/vccpki/api"
	"github.com/vcc/vccpki/api/client"
	"github.com/vcc/vccpki/ca"
)

// The CA lifecycle and the organisations through the API. Creating,
// revoking and rolling over a CA are dual control there: the command
// files the request and a second pki_admin approves it (vccpki approvals
// approve), as for reissue.

// printRequested says that an act of dual control waits for approval.
func printRequested(out io.Writer, what string, a *api.Approval) error {
	_, err := fmt.Fprintf(out, "%s, approval %s %s until %s; a second pki_admin approves it with: vccpki approvals approve %s\n",
		what, a.ID, a.Status, a.ExpiresAt.UTC().Format(time.RFC3339), a.ID)
	return err
}

// apiCARequest is a new CA's request as the API takes it.
func apiCARequest(r *ca.CreateCARequest) api.CreateCARequest {
	out := api.CreateCARequest{Name: r.Name, Parent: r.Parent, Key: string(r.KeyType), CommonName: r.CommonName, PathLen: r.PathLen,
		PermittedDNS: r.PermittedDNS, ExcludedDNS: r.ExcludedDNS, Organisation: r.Organisation}
	if r.Validity > 0 {
		out.Validity = r.Validity.String()
	}
	for _, n := range r.PermittedIP {
		out.PermittedIP = append(out.PermittedIP, n.String())
	}
	for _, n := range r.ExcludedIP {
		out.ExcludedIP = append(out.ExcludedIP, n.String())
	}
	return out
}

func remoteCACreate(ctx context.Context, c *client.Client, out io.Writer, req *ca.CreateCARequest) error {
	a, err := c.RequestCACreate(ctx, apiCARequest(req))
	if err != nil {
		return remoteErr(err)
	}
	return printRequested(out, fmt.Sprintf("CA %s below %s: creation requested", req.Name, req.Parent), a)
}

func remoteCARevoke(ctx context.Context, c *client.Client, out io.Writer, name string, reason ca.RevocationReason, force bool) error {
	a, err := c.RequestCARevoke(ctx, name, api.CARevokeRequest{Reason: reason.String(), Force: force})
	if err != nil {
		return remoteErr(err)
	}
	return printRequested(out, fmt.Sprintf("CA %s: revocation requested (%s)", name, reason), a)
}

func remoteCARollover(ctx context.Context, c *client.Client, out io.Writer, name, keyType string) error {
	a, err := c.RequestCARollover(ctx, name, api.CARolloverRequest{Key: keyType})
	if err != nil {
		return remoteErr(err)
	}
	return printRequested(out, fmt.Sprintf("CA %s: rollover requested", name), a)
}

// caRow is a line of vccpki ca list, local or remote alike.
type caRow struct {
	Name       string    `json:"name"`
	Role       string    `json:"role"`
	Parent     string    `json:"parent,omitempty"`
	Generation int       `json:"generation"`
	Status     string    `json:"status"`
	Serial     string    `json:"serial"`
	NotAfter   time.Time `json:"not_after"`
}

// runCAList: vccpki ca list [--json], from the store or through the API.
func runCAList(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("ca list", "[--json]", out)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	rf := addRemoteFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	rows := []caRow{}
	if c, err := rf.client(); err != nil || c != nil {
		if err != nil {
			return err
		}
		err := c.CAs(ctx, url.Values{"limit": {fmt.Sprint(api.MaxLimit)}}, func(v api.CA) error {
			rows = append(rows, caRow{v.Name, v.Role, v.Parent, v.Generation, v.Status, v.Serial, v.NotAfter.UTC()})
			return nil
		})
		if err != nil {
			return remoteErr(err)
		}
	} else {
		a, err := openApp(ctx, cf)
		if err != nil {
			return err
		}
		defer a.Close()
		recs, err := a.store.CAs(ctx)
		if err != nil {
			return err
		}
		now := time.Now()
		for _, r := range recs {
			cert, err := x509.ParseCertificate(r.DER)
			if err != nil {
				return fmt.Errorf("CA record %s: %w", r.Name, err)
			}
			status := "valid"
			switch {
			case !r.RevokedAt.IsZero():
				status = "revoked"
			case !cert.NotAfter.After(now):
				status = "expired"
			}
			rows = append(rows, caRow{r.Name, r.Role, r.Parent, max(r.Generation, 1), status, ca.FormatSerial(cert.SerialNumber), cert.NotAfter.UTC()})
		}
	}
	return printList(out, *asJSON, rows, "NAME\tROLE\tPARENT\tGENERATION\tSTATUS\tSERIAL\tNOT AFTER", func(r caRow) string {
		return fmt.Sprintf("%s\t%s\t%s\t%d\t%s\t%s\t%s", r.Name, r.Role, orDash(r.Parent), r.Generation, r.Status, r.Serial, r.NotAfter.Format(time.RFC3339))
	})
}
