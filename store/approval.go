package store

import (
	"context"
	"time"
)

// Approval statuses: a request of dual control waits as pending until a
// second administrator approves it (approved while it runs, then executed
// or failed) or
// its time runs out (expired).
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved" // a second administrator approved it; it is running
	ApprovalExecuted = "executed"
	ApprovalFailed   = "failed"
	ApprovalExpired  = "expired"
	ApprovalDenied   = "denied" // an administrator (the requester withdrawing it, or another) refused it
)

// Approval is one act of dual control (api/): what is asked, by whom,
// until when, and how it was decided.
type Approval struct {
	ID          string
	Action      string // what is asked, e.g. "certificates.revoke-all"
	Params      []byte // the act's parameters, JSON, opaque to the store
	RequestedBy string // the requester, as audited
	RequesterID string // the requester's stable identity (method, issuer, subject), to tell approvers apart
	RequestedAt time.Time
	ExpiresAt   time.Time
	Status      string // Approval*
	DecidedBy   string // "" while pending
	DecidedAt   time.Time
	Result      string // what the act did, or why it failed
}

// ApprovalFilter narrows Approvals. Zero fields do not filter.
type ApprovalFilter struct {
	Status string
	After  string // continue after this ID (results are ordered by ID)
	Limit  int    // 0 = no limit
}

// ApprovalStore keeps the requests of dual control.
type ApprovalStore interface {
	// CreateApproval stores a pending approval and ev in one transaction.
	// ErrConflict if the ID exists.
	CreateApproval(ctx context.Context, a Approval, ev AuditEvent) error
	// Approval returns one approval, or ErrNotFound.
	Approval(ctx context.Context, id string) (Approval, error)
	// Approvals lists approvals matching f, ordered by ID.
	Approvals(ctx context.Context, f ApprovalFilter) ([]Approval, error)
	// UpdateApproval replaces the approval's status, decision and result
	// if its status is still fromStatus, and appends ev, in one
	// transaction: of two approvers, one wins. ErrConflict if the status
	// changed meanwhile, ErrNotFound for an unknown ID.
	UpdateApproval(ctx context.Context, a Approval, fromStatus string, ev AuditEvent) error
}
