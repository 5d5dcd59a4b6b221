// Package store persists vccpki's state behind Go interfaces: issued
// certificates and their revocation, the CA hierarchy and its sealed keys,
// CRL numbers, and the hash-chained audit log. Implementations live in
// sub-packages: store/sqlstore writes the SQL once, store/sqlite and
// store/postgres open their engines; no SQL or driver type leaves them.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Implementations wrap them so callers use errors.Is.
var (
	// ErrNotFound: the object asked for does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a uniqueness rule or a guarded state transition refused
	// the write (serial already used, certificate already revoked,
	// hierarchy already created).
	ErrConflict = errors.New("store: conflict")
	// ErrAlreadyReplaced: an ACME order may not replace a certificate that
	// another order has replaced (RFC 9773 §5). It is an ErrConflict.
	ErrAlreadyReplaced = fmt.Errorf("certificate already replaced: %w", ErrConflict)
)

// Certificate is one issued end-entity certificate.
type Certificate struct {
	Serial    string // lowercase hex of the serial's big-endian bytes, no leading zero byte
	Issuer    string // name of the issuing CA, e.g. "services"
	Profile   string // profile template name
	Requester string // who asked, e.g. "acme:<account URL>", "operator:alice"
	Subject   string // one-line summary: subject CN, else first SAN
	Names     []string
	NotBefore time.Time
	NotAfter  time.Time
	DER       []byte
	CRLShard  int

	// Revocation; RevokedAt.IsZero() means not revoked.
	RevokedAt        time.Time
	RevocationReason int // RFC 5280 §5.3.1 CRLReason
}

// Revoked is one CRL entry.
type Revoked struct {
	Serial    string
	RevokedAt time.Time
	Reason    int
	NotAfter  time.Time
}

// CertFilter narrows Certificates. Zero fields do not filter.
type CertFilter struct {
	Profile        string
	Issuer         string
	ExpiringBefore time.Time // NotAfter < ExpiringBefore
	ValidAt        time.Time // NotBefore <= ValidAt < NotAfter
	ExpiringAfter  time.Time // NotAfter >= ExpiringAfter
	// Name selects certificates whose Subject or one of whose Names
	// contains it, ignoring ASCII case.
	Name string
	// Revoked, when set, selects only revoked (true) or only unrevoked
	// (false) certificates.
	Revoked *bool
	Limit   int // 0 = no limit
	// After continues a listing after the last certificate of the
	// previous page (results are ordered by NotAfter, then Serial), so
	// that a million certificates are read a page at a time.
	After *Certificate

	// Org, when set, selects only certificates whose issuing CA that
	// organisation owns (OrgStore): the scope of an organisation's people.
	Org string
}

// AuditEvent is what a caller appends to the audit log.
type AuditEvent struct {
	Time   time.Time
	Actor  string // "operator:alice", "acme:<account URL>", "system"
	Action string // "issue", "issue.refused", "revoke", "init", ...
	Object string // serial, profile, CA name, ...
	Result string // "ok", or the reason for a refusal or failure
	// Org is the organisation the event belongs to; "" is OperatorOrg.
	// It is in the chain hash only when it is not OperatorOrg, so that
	// entries written before organisations existed verify unchanged.
	Org string
}

// AuditFilter narrows AuditEntries. Zero fields do not filter.
type AuditFilter struct {
	Since, Until time.Time // Since <= Time < Until
	Actor        string    // exact
	Action       string    // exact
	Object       string    // contained, ignoring ASCII case
	Org          string    // exact; "" does not filter
	AfterSeq     int64     // keyset cursor: entries with Seq > AfterSeq
	Limit        int       // 0 = no limit
}

// AuditEntry is a stored audit event with its place in the chain.
type AuditEntry struct {
	Seq int64 // 1, 2, 3, ... without gaps
	AuditEvent
	PrevHash []byte // Hash of entry Seq-1; 32 zero bytes for Seq 1
	Hash     []byte // ChainHash(Seq, PrevHash, AuditEvent)
}

// KeyRecord is a private key as the key store sealed it; the store never
// sees plain key material.
type KeyRecord struct {
	ID        string
	Algorithm string // key type, e.g. "ecdsa-p256", or "argon2id" for the KEK parameters
	Sealed    []byte // opaque to the store
}

// CARecord is one certificate of the CA's own hierarchy: the root, an
// intermediate, an OCSP responder, the TSA or the server's HTTPS certificate.
type CARecord struct {
	Name      string // "root", "services", "ocsp-services", "tsa", "https", ...
	Role      string // "root", "intermediate", "ocsp", "tsa", "https"
	Parent    string // name of the issuing CA record; "" for the root
	KeyID     string // KeyRecord.ID of its private key
	DER       []byte
	CreatedAt time.Time
	// RevokedAt is when the CA certificate was revoked (RevokeCA); zero
	// while it is not. RevocationReason is its RFC 5280 §5.3.1 code.
	RevokedAt        time.Time
	RevocationReason int
	// Generation numbers the CA's key: 1 for the first, one more at each
	// rollover (RolloverCA). RetiredAt is when a generation stopped
	// issuing; zero for the current one (RetiredCAs returns the others).
	Generation int
	RetiredAt  time.Time
	// LinkDER is, for a generation made by a rollover, its link
	// certificate (RFC 4210 §4.4 "newWithOld"): the generation's key
	// certified by the previous generation's key, with the CA's subject.
	// Empty for generation 1 and for generations rolled over before link
	// certificates existed. RolloverCA stores it; CAs and RetiredCAs
	// return it.
	LinkDER []byte
	// Org, on a new issuing CA given to AddCAs, is the organisation that
	// owns it (its profiles may name it), claimed in the same transaction;
	// "" or OperatorOrg for the operator's. CAs does not fill it
	// (CAOrganisation answers).
	Org string
}

// SettingPublicURL names the base of the OCSP, CRL and caIssuers URLs
// written into certificates: a property of the CA that every process
// signing for it must share.
const SettingPublicURL = "public_url"

// Store is the whole persistence contract: the CA's own records below,
// and every front end's state through the embedded interfaces, so that a
// caller holding a Store never asserts for more. Front ends still take the
// narrow interface they use. Every method is safe for concurrent use, also
// by several processes sharing one database.
type Store interface {
	ACMEStore
	ESTStore // and ESTGrantStore
	StatusStore
	SharedOCSPStore
	SharedCRLStore
	TimestampStore
	AuthFailureStore
	Leaser
	RekeyStore
	ApprovalStore
	SignatureStore
	SigningKeyStore
	OrgStore

	// InsertCertificate records an issued certificate and its audit event
	// in one transaction. ErrConflict if the serial exists.
	InsertCertificate(ctx context.Context, c Certificate, ev AuditEvent) error
	// InsertCertificateAlong is InsertCertificate that also runs along, a
	// write this store made (ACMEStore.CompleteOrderAlong), in the same
	// transaction: both are stored or neither. If along fails, the error
	// wraps ErrAlongFailed and along's own error.
	InsertCertificateAlong(ctx context.Context, c Certificate, ev AuditEvent, along Along) error
	// Certificate returns the certificate with that serial, or ErrNotFound.
	Certificate(ctx context.Context, serial string) (Certificate, error)
	// Certificates lists certificates matching f, ordered by NotAfter then serial.
	Certificates(ctx context.Context, f CertFilter) ([]Certificate, error)
	// Revoke marks a certificate revoked and appends ev, in one transaction.
	// ErrNotFound for an unknown serial, ErrConflict if already revoked.
	Revoke(ctx context.Context, serial string, at time.Time, reason int, ev AuditEvent) error
	// RevokedCertificates streams the revoked certificates of an issuer, in
	// serial order, without loading them all at once. Returning an error
	// from fn stops the walk and returns that error.
	RevokedCertificates(ctx context.Context, issuer string, fn func(Revoked) error) error
	// NextCRLNumber returns the next CRL number of an issuer: 1, 2, 3, ...,
	// never the same twice, across restarts and processes.
	NextCRLNumber(ctx context.Context, issuer string) (int64, error)

	// AppendAudit appends one event to the hash chain.
	AppendAudit(ctx context.Context, ev AuditEvent) error
	// WalkAudit calls fn for every stored entry in Seq order, as stored:
	// it does not verify; VerifyAudit does.
	WalkAudit(ctx context.Context, fn func(AuditEntry) error) error
	// AuditEntries calls fn for the entries f selects in Seq order, the
	// filter applied in the query (indexed by actor, action and time).
	AuditEntries(ctx context.Context, f AuditFilter, fn func(AuditEntry) error) error

	// CreateHierarchy stores the first keys and CA records and ev in one
	// transaction. ErrConflict if any CA record already exists, so that two
	// processes starting on an empty store cannot both create one.
	CreateHierarchy(ctx context.Context, keys []KeyRecord, cas []CARecord, ev AuditEvent) error
	// PutCA inserts or replaces one CA record (by Name) with its new key,
	// and appends ev, in one transaction. Used to renew the HTTPS certificate.
	PutCA(ctx context.Context, key KeyRecord, ca CARecord, ev AuditEvent) error
	// AddCAs stores new CA records (a new issuing CA and its OCSP
	// responder) with their keys and ev in one transaction. ErrConflict if
	// a record of one of the names exists.
	AddCAs(ctx context.Context, keys []KeyRecord, cas []CARecord, ev AuditEvent) error
	// RevokeCA marks a CA record revoked and appends ev, in one
	// transaction. ErrNotFound for an unknown name, ErrConflict if it is
	// revoked already.
	RevokeCA(ctx context.Context, name string, at time.Time, reason int, ev AuditEvent) error
	// CAs returns every CA record, ordered by CreatedAt then Name.
	CAs(ctx context.Context) ([]CARecord, error)
	// RolloverCA replaces CA records with new ones and stores their keys
	// and ev, in one transaction. A record with a Generation moves the
	// stored one, with RetiredAt ev.Time, to the retired generations;
	// ErrConflict unless its Generation is the stored one's plus one (a
	// concurrent rollover won). A record with Generation 0 (the CA's new
	// OCSP responder) replaces the stored one. ErrNotFound for an unknown
	// name.
	RolloverCA(ctx context.Context, keys []KeyRecord, cas []CARecord, ev AuditEvent) error
	// RetiredCAs returns the retired generations of every CA, by name
	// then generation.
	RetiredCAs(ctx context.Context) ([]CARecord, error)
	// Key returns one sealed key, or ErrNotFound.
	Key(ctx context.Context, id string) (KeyRecord, error)

	// Setting returns a setting of the CA (SettingPublicURL, ...), or
	// ErrNotFound if none was stored.
	Setting(ctx context.Context, name string) (string, error)
	// AdoptSetting stores value under name if it has none yet, appending
	// ev in the same transaction, and returns the value stored afterwards:
	// value, or what another process stored first (then ev is dropped).
	AdoptSetting(ctx context.Context, name, value string, ev AuditEvent) (string, error)
	// ReplaceSetting stores value under name, whatever was there, and
	// appends ev in the same transaction. It returns the previous value
	// ("" for none).
	ReplaceSetting(ctx context.Context, name, value string, ev AuditEvent) (string, error)

	Close() error
}

// Along is a write a store method made, to run inside another write's
// transaction (InsertCertificateAlong). Whoever carries it (the CA engine)
// never looks inside; only the store that made it runs it. It appends
// nothing to the audit log (the write it rides with does).
type Along interface{ StoreAlong() }

// ErrAlongFailed marks the failure of an Along write: the write it rode
// along with was undone with it. It is no conflict of the carrying write
// (a serial collision), so retrying that write cannot help.
var ErrAlongFailed = errors.New("the write carried along failed")
