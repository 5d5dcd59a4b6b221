package main

import (
	"bufio"
	"context"
	"io"
	"net/url"

	"github.com/vcc/vccpki/api"
)

// runAuditExport prints the audit entries as JSON Lines, the same lines
// GET /api/v1/audit/export answers, from the local store or the server.
func runAuditExport(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("audit export", "[--since TIME] [--until TIME] [--actor A] [--action A] [--object TEXT]", out)
	q := url.Values{}
	for _, f := range []struct{ name, usage string }{
		{"since", "only entries at or after this RFC 3339 time"},
		{"until", "only entries before this RFC 3339 time"},
		{"actor", "only entries of this actor (exact: local:alice, oidc:...)"},
		{"action", "only entries of this action (exact: certificate.revoke, ...)"},
		{"object", "only entries whose object contains this text"},
	} {
		fs.Func(f.name, f.usage, func(v string) error { q.Set(f.name, v); return nil })
	}
	rf := addRemoteFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if c, err := rf.client(); err != nil || c != nil {
		if err != nil {
			return err
		}
		return remoteErr(c.ExportAudit(ctx, q, out))
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	w := bufio.NewWriter(out)
	if err := api.ExportAudit(ctx, a.store, q, w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return a.audit(ctx, "audit.export", "audit log", "ok")
}
