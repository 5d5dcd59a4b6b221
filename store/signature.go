package store

import (
	"context"
	"time"
)

// Where a registered signature was made.
const (
	SignatureServer = "server" // by a server-held key, POST /api/v1/sign
	SignatureClient = "client" // by a developer's key, registered through the API
)

// CodeSignature is one entry of the signature registry
// (vcc_code_signatures): an artifact signature, who made it and when.
type CodeSignature struct {
	ID              string // time-ordered, so that listing by ID lists by time
	ArtifactType    string // model, lora_adapter, worker, pipeline_config, ui_bundle, file, manifest
	Name            string
	Digest          string // hex SHA-256 of what was signed (manifest, DSSE payload, file)
	SignatureDigest string // hex SHA-256 of the signature value; unique
	Profile         string // the signer certificate's profile, "" if unknown
	SignerSerial    string // hex serial of the signer certificate
	SignerSubject   string
	TimestampSerial string // serial of the RFC 3161 token, "" for none
	Source          string // SignatureServer or SignatureClient
	Actor           string // who asked, as audited
	CreatedAt       time.Time
}

// SignatureFilter narrows Signatures. Zero fields do not filter.
type SignatureFilter struct {
	Digest          string
	SignatureDigest string
	Name            string
	SignerSerial    string
	After           string // continue after this ID (results are ordered by ID)
	Limit           int    // 0 = no limit
}

// SignatureStore is the signature registry.
type SignatureStore interface {
	// RecordSignature stores a signature, ev and more (further entries, in
	// order: the API call's own) in one transaction. ErrConflict if its ID
	// or signature digest is registered already.
	RecordSignature(ctx context.Context, sig CodeSignature, ev AuditEvent, more ...AuditEvent) error
	// RecordStampedSignature is RecordSignature with the record of the
	// signature's RFC 3161 token (signed in process, not yet recorded) in
	// the same transaction: both rows and the entries, or none of them.
	// ErrConflict also if the token's serial is recorded already.
	RecordStampedSignature(ctx context.Context, sig CodeSignature, token TimestampRecord, ev AuditEvent, more ...AuditEvent) error
	// Signature returns one registered signature, or ErrNotFound.
	Signature(ctx context.Context, id string) (CodeSignature, error)
	// Signatures lists registered signatures matching f, ordered by ID.
	Signatures(ctx context.Context, f SignatureFilter) ([]CodeSignature, error)
}

// SigningKey is the server-held signing key of a signing profile: the key
// (sealed in the keys table, or a token object) and its certificate.
type SigningKey struct {
	Profile   string
	KeyID     string // KeyRecord.ID
	Serial    string // the certificate's serial, hex
	DER       []byte // the certificate
	CreatedAt time.Time
}

// SigningKeyStore keeps the server-held signing keys, one per profile.
type SigningKeyStore interface {
	// PutSigningKey stores key and makes sk the profile's signing key
	// (replacing the one before, which stays in the keys table), with
	// ev, in one transaction.
	PutSigningKey(ctx context.Context, key KeyRecord, sk SigningKey, ev AuditEvent) error
	// SigningKey returns a profile's signing key, or ErrNotFound.
	SigningKey(ctx context.Context, profile string) (SigningKey, error)
}
