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
}
