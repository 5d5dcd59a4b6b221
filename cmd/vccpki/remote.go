package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/vcc/vccpki/api"
	"github.com/vcc/vccpki/api/client"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/fleet"
	"github.com/vcc/vccpki/store"
)

// The admin commands through the API (--server, $VCCPKI_SERVER or the
// stored login), printing what their local forms print.

func remoteCertsList(ctx context.Context, c *client.Client, out io.Writer, service string, expiringBefore time.Time, all, asJSON bool) error {
	q := url.Values{"limit": {fmt.Sprint(api.MaxLimit)}}
	if service != "" {
		q.Set("profile", service)
	}
	if !expiringBefore.IsZero() {
		q.Set("expires_before", expiringBefore.UTC().Format(time.RFC3339))
	}
	list := newCertPrinter(out, asJSON)
	err := c.Certificates(ctx, q, func(r api.Certificate) error {
		if r.Status == ca.ListedExpired && !all {
			return nil
		}
		v := certView{r.Serial, r.Profile, r.Issuer, r.Subject, r.Names, r.NotBefore, r.NotAfter, r.Status, time.Time{}, r.Requester}
		if len(v.Names) == 0 {
			v.Names = nil
		}
		if r.RevokedAt != nil {
			v.RevokedAt = *r.RevokedAt
		}
		return list.add(v)
	})
	if err != nil {
		return remoteErr(err)
	}
	return list.end()
}

func remoteRevoke(ctx context.Context, c *client.Client, out io.Writer, serial string, reason ca.RevocationReason) error {
	if _, err := c.Revoke(ctx, serial, reason.String()); err != nil {
		return remoteErr(err)
	}
	_, err := fmt.Fprintf(out, "revoked %s (%s)\n", serial, reason)
	return err
}

func remoteEABCreate(ctx context.Context, c *client.Client, out io.Writer, service string, asJSON bool) error {
	k, err := c.CreateEAB(ctx, service)
	if err != nil {
		return remoteErr(err)
	}
	if asJSON {
		return json.NewEncoder(out).Encode(map[string]string{"kid": k.KID, "hmac": k.HMAC, "service": k.Service})
	}
	_, err = fmt.Fprintf(out, "kid=%s\nhmac=%s\n", k.KID, k.HMAC)
	return err
}

func remoteESTUserAdd(ctx context.Context, c *client.Client, out io.Writer, service, user string) error {
	u, err := c.CreateESTUser(ctx, service, user)
	if err != nil {
		return remoteErr(err)
	}
	_, err = fmt.Fprintf(out, "user=%s\nservice=%s\npassword=%s\n", u.User, u.Service, u.Password)
	return err
}

// remoteReissue asks for the reissue; through the API it is dual control:
// a second pki_admin approves it, and only then are certificates revoked.
func remoteReissue(ctx context.Context, c *client.Client, out io.Writer, service, issuer string, reason ca.RevocationReason) error {
	var a *api.Approval
	var err error
	what := "service " + service
	if service != "" {
		a, err = c.RequestReissue(ctx, service, reason.String())
	} else {
		what = "issuer " + issuer
		a, err = c.RequestRevokeAll(ctx, api.RevokeAllRequest{Issuer: issuer, Reason: reason.String()})
	}
	if err != nil {
		return remoteErr(err)
	}
	return printRequested(out, fmt.Sprintf("%s: reissue requested (%s)", what, reason), a)
}

// auditVerified prints a verification's outcome, local or remote alike.
func auditVerified(out io.Writer, head store.AuditHead, anchor store.AuditHead, p *store.AuditProblem) error {
	if p != nil {
		return &exitError{3, fmt.Sprintf("%v (%d entries before it verify)", p, head.Seq)}
	}
	fmt.Fprintf(out, "audit log OK: %d entries, chain intact\nhead: %s\n", head.Seq, head)
	if anchor.Seq > 0 {
		fmt.Fprintf(out, "anchor %d matches\n", anchor.Seq)
	}
	return nil
}

func remoteAuditVerify(ctx context.Context, c *client.Client, out io.Writer, anchor store.AuditHead, anchorText string) error {
	v, err := c.VerifyAudit(ctx, anchorText)
	if err != nil {
		return remoteErr(err)
	}
	head := store.AuditHead{Seq: v.Entries}
	if h, err := store.ParseAuditHead(v.Head); err == nil {
		head = h
	}
	var p *store.AuditProblem
	if !v.OK {
		p = &store.AuditProblem{Seq: v.Seq, Reason: v.Problem}
	}
	return auditVerified(out, head, anchor, p)
}

// discoverReport prints a discovery's report, local or remote alike; exit
// status 3 when a service needs action.
func discoverReport(out io.Writer, rep *fleet.Report, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := rep.WriteTable(out); err != nil {
		return err
	}
	if rep.NotCovered > 0 {
		return &exitError{3, fmt.Sprintf("%d of %d services need action", rep.NotCovered, len(rep.Services))}
	}
	return nil
}

func remoteDiscover(ctx context.Context, c *client.Client, out io.Writer, only string, asJSON bool) error {
	rep, err := c.Discover(ctx)
	if err != nil {
		return remoteErr(err)
	}
	if only != "" {
		var kept []fleet.ServiceReport
		notCovered := 0
		for _, s := range rep.Services {
			if s.Name == only {
				kept = append(kept, s)
				if !s.Covered {
					notCovered++
				}
			}
		}
		if len(kept) == 0 {
			return &exitError{2, fmt.Sprintf("no service %q in the server's registry", only)}
		}
		rep.Services, rep.NotCovered = kept, notCovered
	}
	return discoverReport(out, rep, asJSON)
}
