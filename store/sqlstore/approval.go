package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/vcc/vccpki/store"
)

const approvalColumns = `id, action, params, requested_by, requester_id, requested_at, expires_at, status, decided_by, decided_at, result`

// optNanos stores a time that may be zero (not decided yet) as 0.
func optNanos(what string, t time.Time) (int64, error) {
	if t.IsZero() {
		return 0, nil
	}
	return ToNanos(what, t)
}

func optTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return FromNanos(n)
}

// CreateApproval stores a pending approval with its audit event.
func (s *Store) CreateApproval(ctx context.Context, a store.Approval, ev store.AuditEvent) error {
	req, err := ToNanos("requested_at", a.RequestedAt)
	if err != nil {
		return s.errorf("create approval: %w", err)
	}
	exp, err := ToNanos("expires_at", a.ExpiresAt)
	if err != nil {
		return s.errorf("create approval: %w", err)
	}
	dec, err := optNanos("decided_at", a.DecidedAt)
	if err != nil {
		return s.errorf("create approval: %w", err)
	}
	_, err = inTx(ctx, s, func(tx Tx) (struct{}, error) {
		n, err := tx.Exec(ctx, `INSERT INTO approvals (`+approvalColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`, a.ID, a.Action, Blob(a.Params), a.RequestedBy, a.RequesterID, req, exp, a.Status, a.DecidedBy, dec, a.Result)
		if err != nil {
			return struct{}{}, err
		}
		if n == 0 {
			return struct{}{}, fmt.Errorf("approval %s exists: %w", a.ID, store.ErrConflict)
		}
		return struct{}{}, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return s.errorf("create approval: %w", err)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanApproval(r scanner) (store.Approval, error) {
	var a store.Approval
	var req, exp, dec int64
	err := r.Scan(&a.ID, &a.Action, &a.Params, &a.RequestedBy, &a.RequesterID, &req, &exp, &a.Status, &a.DecidedBy, &dec, &a.Result)
	a.RequestedAt, a.ExpiresAt, a.DecidedAt = FromNanos(req), FromNanos(exp), optTime(dec)
	return a, err
}

// Approval returns one approval.
func (s *Store) Approval(ctx context.Context, id string) (store.Approval, error) {
	a, err := scanApproval(s.conn.QueryRow(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE id = ?`, id))
	if notFound(err) {
		return store.Approval{}, fmt.Errorf("approval %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Approval{}, s.errorf("approval: %w", err)
	}
	return a, nil
}

// Approvals lists approvals matching f, ordered by ID.
func (s *Store) Approvals(ctx context.Context, f store.ApprovalFilter) ([]store.Approval, error) {
	var where []string
	var args []any
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	return selectPage(ctx, s, "approvals", approvalColumns, "approvals", where, args, f.After, f.Limit,
		func(r Rows) (store.Approval, error) { return scanApproval(r) })
}

// UpdateApproval moves an approval on from fromStatus, with its audit event.
func (s *Store) UpdateApproval(ctx context.Context, a store.Approval, fromStatus string, ev store.AuditEvent) error {
	dec, err := optNanos("decided_at", a.DecidedAt)
	if err != nil {
		return s.errorf("update approval: %w", err)
	}
	_, err = inTx(ctx, s, func(tx Tx) (struct{}, error) {
		n, err := tx.Exec(ctx, `UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, result = ? WHERE id = ? AND status = ?`,
			a.Status, a.DecidedBy, dec, a.Result, a.ID, fromStatus)
		if err != nil {
			return struct{}{}, err
		}
		if n == 0 {
			var status string
			err := tx.QueryRow(ctx, `SELECT status FROM approvals WHERE id = ?`, a.ID).Scan(&status)
			if notFound(err) {
				return struct{}{}, fmt.Errorf("approval %s: %w", a.ID, store.ErrNotFound)
			}
			if err != nil {
				return struct{}{}, err
			}
			return struct{}{}, fmt.Errorf("approval %s is %s, not %s: %w", a.ID, status, fromStatus, store.ErrConflict)
		}
		return struct{}{}, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return s.errorf("update approval: %w", err)
	}
	return nil
}
