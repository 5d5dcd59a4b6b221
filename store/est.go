package store

import (
	"context"
	"time"
)

// ESTUser is one set of HTTP Basic credentials of the EST front end,
// bound to one service (a profile name). Only a slow hash of the password
// is stored, in PHC string format ("$argon2id$v=19$m=...,t=...,p=...$salt$hash"
// or a bcrypt "$2a$..." hash).
type ESTUser struct {
	User      string // unique across services
	Service   string
	Hash      string
	CreatedAt time.Time
	Org       string // organisation owning the credentials; "" is OperatorOrg
}

// ESTStore keeps the EST front end's credentials. It is separate from
// Store so that only the EST front end and its admin command depend on it.
type ESTStore interface {
	// AddESTUser stores new credentials and appends ev, in one
	// transaction. ErrConflict if the user name exists.
	AddESTUser(ctx context.Context, u ESTUser, ev AuditEvent) error
	// ESTUser returns the credentials of a user, or ErrNotFound.
	ESTUser(ctx context.Context, user string) (ESTUser, error)
	// ESTUsers returns every user, by name, without the hash.
	ESTUsers(ctx context.Context) ([]ESTUser, error)
	// RemoveESTUser deletes a user's credentials and appends ev, in one
	// transaction; ErrNotFound for an unknown user.
	RemoveESTUser(ctx context.Context, user string, ev AuditEvent) error
	ESTGrantStore
}

// ESTGrant lets the holder of one EST client certificate (by profile and
// serial) enrol for names beyond those its certificate carries: an
// operator's decision, made with `vccpki est grant` and audited.
type ESTGrant struct {
	Profile   string
	Serial    string   // lowercase hex, as ca.FormatSerial writes it
	Names     []string // lowercase DNS names and canonical IP addresses
	Actor     string   // who granted it
	CreatedAt time.Time
}

// ESTGrantStore keeps the operators' EST grants. ESTStore includes it.
type ESTGrantStore interface {
	// PutESTGrant stores g, replacing a grant for the same profile and
	// serial, and appends ev, in one transaction.
	PutESTGrant(ctx context.Context, g ESTGrant, ev AuditEvent) error
	// ESTGrant returns the grant for a profile and serial, or ErrNotFound.
	ESTGrant(ctx context.Context, profile, serial string) (ESTGrant, error)
	// ESTGrants returns every grant, by profile and serial.
	ESTGrants(ctx context.Context) ([]ESTGrant, error)
	// RemoveESTGrant deletes a grant and appends ev, in one transaction;
	// ErrNotFound when there is none.
	RemoveESTGrant(ctx context.Context, profile, serial string, ev AuditEvent) error
}
