package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/vcc/vccpki/api"
	"github.com/vcc/vccpki/api/client"
)

// Dual control from the command line: the requests of acts that hurt many
// wait in the server for a second pki_admin. They exist only in the API
// (the server executes an approved act), so these commands always go
// through it (--server, $VCCPKI_SERVER or the stored login).

// approvalsClient is the API client of an approvals command; local mode
// has no approvals to decide.
func approvalsClient(rf *remoteFlags, name string) (*client.Client, error) {
	c, err := rf.client()
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, &exitError{2, "approvals " + name + " goes through the server's API: run vccpki login --server URL (or give --server)"}
	}
	return c, nil
}

func runApprovalsList(ctx context.Context, args []string, out io.Writer) error {
	fs, _ := newFlags("approvals list", "[--status pending|approved|executed|failed|expired|denied] [--json]", out)
	status := fs.String("status", "", "only the requests in this status")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	rf := addRemoteFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := approvalsClient(rf, "list")
	if err != nil {
		return err
	}
	q := url.Values{"limit": {fmt.Sprint(api.MaxLimit)}}
	if *status != "" {
		q.Set("status", *status)
	}
	rows := []api.Approval{}
	if err := c.Approvals(ctx, q, func(a api.Approval) error { rows = append(rows, a); return nil }); err != nil {
		return remoteErr(err)
	}
	return printList(out, *asJSON, rows, "ID\tACTION\tSTATUS\tREQUESTED BY\tEXPIRES\tDECIDED BY\tPARAMS", func(a api.Approval) string {
		return strings.Join([]string{a.ID, a.Action, a.Status, a.RequestedBy, a.ExpiresAt.UTC().Format(time.RFC3339), a.DecidedBy, string(a.Params)}, "\t")
	})
}

func runApprovalsApprove(ctx context.Context, args []string, out io.Writer) error {
	return decideApproval(ctx, "approve", args, out, (*client.Client).Approve)
}

func runApprovalsDeny(ctx context.Context, args []string, out io.Writer) error {
	return decideApproval(ctx, "deny", args, out, (*client.Client).Deny)
}

// decideApproval approves or denies one request and prints its outcome;
// an approved act that failed exits 1.
func decideApproval(ctx context.Context, verb string, args []string, out io.Writer, decide func(*client.Client, context.Context, string) (*api.Approval, error)) error {
	fs, _ := newFlags("approvals "+verb, "ID", out)
	rf := addRemoteFlags(fs)
	id, err := parseOneArg(fs, args, "approval ID")
	if err != nil {
		return err
	}
	c, err := approvalsClient(rf, verb)
	if err != nil {
		return err
	}
	a, err := decide(c, ctx, id)
	if err != nil {
		return remoteErr(err)
	}
	fmt.Fprintf(out, "approval %s (%s requested by %s): %s by %s: %s\n", a.ID, a.Action, a.RequestedBy, a.Status, a.DecidedBy, a.Result)
	if a.Status == "failed" {
		return &exitError{1, "the approved act failed: " + a.Result}
	}
	return nil
}
