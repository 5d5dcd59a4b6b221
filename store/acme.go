package store

import (
	"context"
	"time"
)

// AccountID, OrderID and AuthzID name ACME objects. They are distinct
// types so that one can never be passed where another is meant.
type (
	AccountID string
	OrderID   string
	AuthzID   string
)

// Status is the state of an ACME account, order, authorization or
// challenge (RFC 8555 §7.1.6).
type Status string

// The states of RFC 8555 §7.1.6.
const (
	StatusPending     Status = "pending"
	StatusReady       Status = "ready"
	StatusProcessing  Status = "processing"
	StatusValid       Status = "valid"
	StatusInvalid     Status = "invalid"
	StatusDeactivated Status = "deactivated"
	StatusRevoked     Status = "revoked"
	StatusExpired     Status = "expired"
)

// ACMEStore is what the ACME front end (acme/) keeps: accounts, external
// account binding keys, orders, authorizations, the account each ACME
// certificate was issued to, and the nonces already used. Protocol detail
// the store never queries travels as an opaque JSON Data blob; the columns
// a query or a guarded transition needs are fields.
//
// Every method is safe for concurrent use, also by several processes (or
// vccpki instances) sharing one database: that is what makes a nonce issued
// by one instance usable at another.
type ACMEStore interface {
	// ACMESecret returns the secret stored under name; if there is none it
	// stores fresh and returns it. Every instance sharing the store thus
	// gets the same value (the nonce MAC key). With fresh nil it only
	// reads: ErrNotFound if there is none.
	ACMESecret(ctx context.Context, name string, fresh []byte) ([]byte, error)
	// UseNonces records nonces as used until their expiry, in one
	// transaction, so that concurrent requests share a commit. It returns
	// one result per nonce: nil, or ErrConflict if that nonce was used
	// before (also earlier in the same batch); a nonce is good for one
	// request (RFC 8555 §6.5). The error is for the batch as a whole.
	UseNonces(ctx context.Context, uses []NonceUse) ([]error, error)
	// PruneNonces forgets used nonces that expired before now.
	PruneNonces(ctx context.Context, now time.Time) (int64, error)

	// CreateEABKey stores an external account binding key and ev in one
	// transaction. ErrConflict if the key ID exists.
	CreateEABKey(ctx context.Context, k EABKey, ev AuditEvent) error
	// EABKey returns one key by ID, or ErrNotFound.
	EABKey(ctx context.Context, kid string) (EABKey, error)
	// EABKeys returns every key, oldest first, without their HMAC.
	EABKeys(ctx context.Context) ([]EABKey, error)
	// RevokeEABKey deletes a key and appends ev, in one transaction. An
	// account bound to the key is revoked with it (status "revoked", RFC
	// 8555 §7.1.6: deactivated by the server) and its ID returned.
	// ErrNotFound for an unknown key.
	RevokeEABKey(ctx context.Context, kid string, ev AuditEvent) (accountID AccountID, err error)

	// CreateAccount stores a new account and ev in one transaction. If
	// a.EABKeyID is set, that key is bound to the account in the same
	// transaction. ErrConflict if an account with the same key exists or
	// the EAB key is already bound.
	CreateAccount(ctx context.Context, a ACMEAccount, ev AuditEvent) error
	// Account returns an account by ID, AccountByKey by the thumbprint of
	// its key; ErrNotFound if there is none.
	Account(ctx context.Context, id AccountID) (ACMEAccount, error)
	AccountByKey(ctx context.Context, thumbprint string) (ACMEAccount, error)
	// UpdateAccount replaces the account's status, contact and key, if its
	// status is still fromStatus, and appends ev, in one transaction.
	// ErrConflict if the status changed meanwhile or the new key belongs to
	// another account; ErrNotFound for an unknown ID.
	UpdateAccount(ctx context.Context, a ACMEAccount, fromStatus Status, ev AuditEvent) error

	// CreateOrder stores an order with its authorizations in one
	// transaction. If o.Replaces names a certificate serial, that must be
	// an ACME certificate (else ErrNotFound) not yet replaced (else
	// ErrAlreadyReplaced); it is not marked here: see UpdateOrder.
	CreateOrder(ctx context.Context, o ACMEOrder, authzs []ACMEAuthz) error
	// Order returns one order, or ErrNotFound.
	Order(ctx context.Context, id OrderID) (ACMEOrder, error)
	// OrderIDs lists an account's order IDs, oldest first, after the
	// given order ID ("" for the start), at most limit of them.
	OrderIDs(ctx context.Context, accountID AccountID, after OrderID, limit int) ([]OrderID, error)
	// UpdateOrder replaces the order's status and data if its status is
	// still fromStatus. ErrConflict otherwise, ErrNotFound if none.
	//
	// For an order that replaces a certificate (o.Replaces, as stored), in
	// the same transaction: moving to "processing" marks the certificate
	// replaced by o, ErrAlreadyReplaced (and no change) if another order
	// marked it first; moving to any status but "valid" removes o's mark.
	// Only a replacement being or having been issued counts (RFC 9773 §5):
	// one that failed or expired does not block the next.
	UpdateOrder(ctx context.Context, o ACMEOrder, fromStatus Status) error
	// CompleteOrder is UpdateOrder that also records the certificate
	// issued for the order, in one transaction.
	CompleteOrder(ctx context.Context, o ACMEOrder, fromStatus Status, cert ACMECertificate) error
	// CompleteOrderAlong is CompleteOrder as a write to run in the
	// transaction of the certificate's own insert
	// (InsertCertificateAlong), so that the certificate, its audit entry
	// and the order's completion commit together.
	CompleteOrderAlong(o ACMEOrder, fromStatus Status, cert ACMECertificate) Along
	// CountOrders counts an account's orders created at or after since.
	CountOrders(ctx context.Context, accountID AccountID, since time.Time) (int, error)
	// PruneOrders deletes up to limit authorizations that expired before
	// before and whose order expired before it too, then up to limit such
	// orders that have no authorization left and produced no certificate
	// (an order with a certificate stays: the certificate's record refers
	// to it). It returns how many orders and authorizations it deleted;
	// callers repeat while either count reaches limit. Accounts and the
	// audit log are never pruned.
	PruneOrders(ctx context.Context, before time.Time, limit int) (orders, authzs int64, err error)

	// Authz returns one authorization, or ErrNotFound.
	Authz(ctx context.Context, id AuthzID) (ACMEAuthz, error)
	// UpdateAuthz replaces the authorization's status and data if its
	// status is still fromStatus. ErrConflict otherwise.
	UpdateAuthz(ctx context.Context, a ACMEAuthz, fromStatus Status) error
	// CountPendingAuthzs counts an account's pending authorizations that
	// have not expired at now.
	CountPendingAuthzs(ctx context.Context, accountID AccountID, now time.Time) (int, error)
	// HasValidAuthz reports whether the account holds a valid
	// authorization for identifier that has not expired at now (RFC 8555
	// §7.6: such an account may revoke certificates naming it).
	HasValidAuthz(ctx context.Context, accountID AccountID, identifier string, now time.Time) (bool, error)

	// ACMECertificate returns the ACME record of a certificate serial, or
	// ErrNotFound if it was not issued through ACME.
	ACMECertificate(ctx context.Context, serial string) (ACMECertificate, error)
}

// ACMEAccount is an ACME account (RFC 8555 §7.1.2).
type ACMEAccount struct {
	ID         AccountID
	Thumbprint string // RFC 7638 JWK thumbprint of the account key, base64url
	JWK        []byte // the account's public key, JSON
	Status     Status // valid, deactivated, revoked
	Contact    []string
	EABKeyID   string // "" when the account has no external account binding
	Service    string // profile the EAB key binds the account to; "" for none
	CreatedAt  time.Time
	Org        string // organisation whose directory created it; "" is OperatorOrg
}

// EABKey is an external account binding key (RFC 8555 §7.3.4).
type EABKey struct {
	KeyID     string
	HMAC      []byte
	Service   string // profile the accounts it binds may use; "" for any
	CreatedAt time.Time
	AccountID AccountID // account it is bound to; "" while unused
	Org       string    // organisation owning it; "" is OperatorOrg
}

// ACMEOrder is an order (RFC 8555 §7.1.3).
type ACMEOrder struct {
	ID        OrderID
	AccountID AccountID
	Status    Status // pending, ready, processing, valid, invalid
	Expires   time.Time
	CreatedAt time.Time
	Replaces  string // serial of the certificate this order replaces (RFC 9773 §5)
	Data      []byte // front-end JSON: identifiers, authorizations, profile, certificate, error
}

// ACMEAuthz is an authorization with its challenges (RFC 8555 §7.1.4).
type ACMEAuthz struct {
	ID        AuthzID
	AccountID AccountID
	OrderID   OrderID
	Status    Status // pending, valid, invalid, deactivated, expired, revoked
	// Identifier is what the authorization authorizes, as ordered:
	// "dns:name", "dns:*.name" for a wildcard, "ip:address".
	Identifier string
	Expires    time.Time
	Data       []byte // front-end JSON: identifier, wildcard, challenges
}

// ACMECertificate ties a certificate issued through ACME to its account
// and order, and records which order replaced it (RFC 9773).
type ACMECertificate struct {
	Serial     string
	AccountID  AccountID
	OrderID    OrderID
	ReplacedBy OrderID // order ID of the replacement being or having been issued; "" while none
}

// NonceUse is one nonce spent by a request. Expires is derived from Nonce
// (the same nonce always comes with the same expiry): a store may key used
// nonces by both.
type NonceUse struct {
	Nonce   string
	Expires time.Time
}
