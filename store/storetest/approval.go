package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vcc/vccpki/store"
)

// RunApprovals runs the contract suite of store.ApprovalStore. open must
// return a new, empty store for each call.
func RunApprovals(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"RoundTripAndList", testApprovalsRoundTrip},
		{"GuardedTransition", testApprovalsGuarded},
		{"OneOfTwoDeciders", testApprovalsRace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func pendingApproval(id string) store.Approval {
	return store.Approval{ID: id, Action: "certificates.revoke-all", Params: []byte(`{"issuer":"services"}`),
		RequestedBy: "oidc:alice", RequesterID: "oidc https://idp alice", RequestedAt: base, ExpiresAt: base.Add(24 * time.Hour), Status: store.ApprovalPending}
}

func approvalEvent(action, id string) store.AuditEvent {
	return store.AuditEvent{Time: base, Actor: "oidc:alice", Action: action, Object: id, Result: "ok"}
}

// testApprovalsRoundTrip: every field comes back as stored (full time
// precision, a zero decision time stays zero), a duplicate ID is a
// conflict, listings filter by status and page by ID.
func testApprovalsRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"a1", "a2", "a3"} {
		if err := s.CreateApproval(ctx, pendingApproval(id), approvalEvent("approval.request", id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateApproval(ctx, pendingApproval("a1"), approvalEvent("approval.request", "a1")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate ID: %v, want ErrConflict", err)
	}
	got, err := s.Approval(ctx, "a2")
	want := pendingApproval("a2")
	if err != nil || got.Action != want.Action || string(got.Params) != string(want.Params) || got.RequestedBy != want.RequestedBy || got.RequesterID != want.RequesterID ||
		!got.RequestedAt.Equal(base) || !got.ExpiresAt.Equal(want.ExpiresAt) || got.Status != store.ApprovalPending || !got.DecidedAt.IsZero() {
		t.Fatalf("Approval = %+v, %v; want %+v", got, err, want)
	}
	if _, err := s.Approval(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown ID: %v, want ErrNotFound", err)
	}
	done := got
	done.Status, done.DecidedBy, done.DecidedAt, done.Result = store.ApprovalExecuted, "oidc:bob", base.Add(time.Hour), "ok: 3 revoked"
	if err := s.UpdateApproval(ctx, done, store.ApprovalPending, approvalEvent("approval.approve", "a2")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Approval(ctx, "a2"); err != nil || got.Status != store.ApprovalExecuted || got.DecidedBy != "oidc:bob" ||
		!got.DecidedAt.Equal(done.DecidedAt) || got.Result != done.Result {
		t.Errorf("after the decision: %+v, %v", got, err)
	}
	pending, err := s.Approvals(ctx, store.ApprovalFilter{Status: store.ApprovalPending})
	if err != nil || len(pending) != 2 || pending[0].ID != "a1" || pending[1].ID != "a3" {
		t.Errorf("pending approvals = %+v, %v; want a1, a3", pending, err)
	}
	page, err := s.Approvals(ctx, store.ApprovalFilter{After: "a1", Limit: 1})
	if err != nil || len(page) != 1 || page[0].ID != "a2" {
		t.Errorf("page after a1 = %+v, %v; want a2", page, err)
	}
	if n, err := store.VerifyAudit(ctx, s); err != nil || n != 4 {
		t.Errorf("audit log: %d entries, %v; want 3 requests and 1 decision", n, err)
	}
}

// testApprovalsGuarded: a decision on an approval that is no longer in
// the expected status is a conflict and writes nothing, not even its
// audit event; an unknown one is ErrNotFound.
func testApprovalsGuarded(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := pendingApproval("g1")
	if err := s.CreateApproval(ctx, a, approvalEvent("approval.request", "g1")); err != nil {
		t.Fatal(err)
	}
	a.Status, a.DecidedBy, a.DecidedAt = store.ApprovalExpired, "system", base.Add(48*time.Hour)
	if err := s.UpdateApproval(ctx, a, store.ApprovalPending, approvalEvent("approval.expire", "g1")); err != nil {
		t.Fatal(err)
	}
	a.Status = store.ApprovalExecuted
	if err := s.UpdateApproval(ctx, a, store.ApprovalPending, approvalEvent("approval.approve", "g1")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("approving an expired approval: %v, want ErrConflict", err)
	}
	if got, _ := s.Approval(ctx, "g1"); got.Status != store.ApprovalExpired {
		t.Errorf("status = %s, want expired", got.Status)
	}
	a.ID = "nope"
	if err := s.UpdateApproval(ctx, a, store.ApprovalPending, approvalEvent("approval.approve", "nope")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown approval: %v, want ErrNotFound", err)
	}
	if n, err := store.VerifyAudit(ctx, s); err != nil || n != 2 {
		t.Errorf("audit log: %d entries, %v; want the request and the expiry", n, err)
	}
}

// testApprovalsRace: of two approvers deciding at once, exactly one wins.
func testApprovalsRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.CreateApproval(ctx, pendingApproval("r1"), approvalEvent("approval.request", "r1")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, who := range []string{"oidc:bob", "oidc:carol"} {
		wg.Go(func() {
			a := pendingApproval("r1")
			a.Status, a.DecidedBy, a.DecidedAt = store.ApprovalExecuted, who, base.Add(time.Hour)
			errs[i] = s.UpdateApproval(ctx, a, store.ApprovalPending, approvalEvent("approval.approve", "r1"))
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("the loser: %v, want ErrConflict", err)
		}
	}
	if won != 1 {
		t.Errorf("%d approvers won, want exactly 1 (%v)", won, errs)
	}
}
