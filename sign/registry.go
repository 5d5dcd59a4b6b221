package sign

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/digitorus/timestamp"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/store"
)

// ArtifactTypes are the kinds of artifact the signature registry knows.
var ArtifactTypes = []string{"model", "lora_adapter", "worker", "pipeline_config", "ui_bundle", "package", "file", "manifest"}

// Summary is what the registry keeps of a Sigstore bundle.
type Summary struct {
	Signature []byte
	// Digest is the SHA-256 of what was signed: the messageSignature's
	// digest of a blob bundle, or SHA-256 of the DSSE payload.
	Digest       []byte
	Leaf         *x509.Certificate
	Chain        []*x509.Certificate // intermediates, as the bundle carries them
	Timestamp    *timestamp.Timestamp
	TimestampDER []byte // the DER TimeStampResp
}

// maxBundle bounds a bundle read here.
const maxBundle = 1 << 20

// Summarize reads a Sigstore bundle (JSON) of the kinds sign/ writes.
func Summarize(bundleJSON []byte) (*Summary, error) {
	if len(bundleJSON) > maxBundle {
		return nil, fmt.Errorf("the bundle is over %d bytes", maxBundle)
	}
	var b protobundle.Bundle
	if err := protojson.Unmarshal(bundleJSON, &b); err != nil {
		return nil, fmt.Errorf("not a Sigstore bundle: %w", err)
	}
	s := &Summary{}
	switch {
	case b.GetMessageSignature() != nil:
		ms := b.GetMessageSignature()
		if ms.MessageDigest == nil || len(ms.MessageDigest.Digest) != sha256.Size {
			return nil, errors.New("the bundle's message digest is not a SHA-256")
		}
		s.Signature, s.Digest = ms.Signature, ms.MessageDigest.Digest
	case b.GetDsseEnvelope() != nil && len(b.GetDsseEnvelope().Signatures) == 1:
		env := b.GetDsseEnvelope()
		sum := sha256.Sum256(env.Payload)
		s.Signature, s.Digest = env.Signatures[0].Sig, sum[:]
	default:
		return nil, errors.New("the bundle holds neither a message signature nor a DSSE envelope with one signature")
	}
	if len(s.Signature) == 0 {
		return nil, errors.New("the bundle's signature is empty")
	}
	vm := b.GetVerificationMaterial()
	var ders [][]byte
	if ch := vm.GetX509CertificateChain(); ch != nil {
		for _, c := range ch.Certificates {
			ders = append(ders, c.RawBytes)
		}
	} else if c := vm.GetCertificate(); c != nil {
		ders = append(ders, c.RawBytes)
	}
	if len(ders) == 0 {
		return nil, errors.New("the bundle carries no signer certificate")
	}
	for i, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("the bundle's certificate %d: %w", i, err)
		}
		if i == 0 {
			s.Leaf = c
		} else {
			s.Chain = append(s.Chain, c)
		}
	}
	if tv := vm.GetTimestampVerificationData(); tv != nil && len(tv.Rfc3161Timestamps) > 0 {
		ts, err := timestamp.ParseResponse(tv.Rfc3161Timestamps[0].SignedTimestamp)
		if err != nil {
			return nil, fmt.Errorf("the bundle's time-stamp: %w", err)
		}
		s.Timestamp, s.TimestampDER = ts, tv.Rfc3161Timestamps[0].SignedTimestamp
	}
	return s, nil
}

// Registry is the signature registry (vcc_code_signatures): every
// server-side signature and every client-side one registered through
// the API.
type Registry struct {
	Store store.SignatureStore
	Now   func() time.Time // nil: time.Now
}

// Registration is one signature to record.
type Registration struct {
	ArtifactType string
	Name         string
	Summary      *Summary
	Profile      string // "" if unknown
	Source       string // store.SignatureServer or store.SignatureClient
	Actor        string // who asked, as audited
	// Audit are further entries written in the same transaction, after
	// the registry's own (the API call's: one commit per request).
	Audit []store.AuditEvent
	// Token is the record of the signature's time-stamp when it was signed
	// in process and not yet recorded (Stamped.Token): it is written in
	// the same transaction.
	Token *store.TimestampRecord
}

// CheckArtifact refuses an unknown artifact type or a name that is empty,
// too long or holds control characters.
func CheckArtifact(artifactType, name string) error {
	if !slices.Contains(ArtifactTypes, artifactType) {
		return fmt.Errorf("artifact type %q is not one of %s", artifactType, strings.Join(ArtifactTypes, ", "))
	}
	if name == "" || len(name) > 200 || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return errors.New("the artifact name must be 1 to 200 printable characters")
	}
	return nil
}

// Register records a signature with its audit entry. A signature
// registered before is a store.ErrConflict.
func (r *Registry) Register(ctx context.Context, reg Registration) (store.CodeSignature, error) {
	if err := CheckArtifact(reg.ArtifactType, reg.Name); err != nil {
		return store.CodeSignature{}, err
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	at := now().UTC()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	g := store.CodeSignature{
		ID:              fmt.Sprintf("sig-%016x-%s", at.UnixNano(), hex.EncodeToString(rnd[:])),
		ArtifactType:    reg.ArtifactType,
		Name:            reg.Name,
		Digest:          hex.EncodeToString(reg.Summary.Digest),
		SignatureDigest: SignatureDigest(reg.Summary.Signature),
		Profile:         reg.Profile,
		SignerSerial:    ca.FormatSerial(reg.Summary.Leaf.SerialNumber),
		SignerSubject:   reg.Summary.Leaf.Subject.String(),
		Source:          reg.Source,
		Actor:           reg.Actor,
		CreatedAt:       at,
	}
	if ts := reg.Summary.Timestamp; ts != nil && ts.SerialNumber != nil {
		g.TimestampSerial = ts.SerialNumber.String()
	}
	action := "sign.register"
	if reg.Source == store.SignatureServer {
		action = "sign.server"
	}
	ev := store.AuditEvent{Time: at, Actor: reg.Actor, Action: action,
		Object: fmt.Sprintf("%s %s sha256:%s", reg.ArtifactType, reg.Name, g.Digest),
		Result: fmt.Sprintf("ok: %s signer %s", g.ID, g.SignerSerial)}
	var err error
	if reg.Token != nil {
		err = r.Store.RecordStampedSignature(ctx, g, *reg.Token, ev, reg.Audit...)
	} else {
		err = r.Store.RecordSignature(ctx, g, ev, reg.Audit...)
	}
	if err != nil {
		return store.CodeSignature{}, err
	}
	return g, nil
}

// SignatureDigest is the registry's key of a signature value.
func SignatureDigest(signature []byte) string {
	s := sha256.Sum256(signature)
	return hex.EncodeToString(s[:])
}

// List returns the registered signatures matching f, ordered by ID.
func (r *Registry) List(ctx context.Context, f store.SignatureFilter) ([]store.CodeSignature, error) {
	f.Digest = strings.ToLower(strings.TrimPrefix(f.Digest, "sha256:"))
	f.SignerSerial = strings.ToLower(f.SignerSerial)
	f.SignatureDigest = strings.ToLower(f.SignatureDigest)
	return r.Store.Signatures(ctx, f)
}

// Show returns one registered signature, or store.ErrNotFound.
func (r *Registry) Show(ctx context.Context, id string) (store.CodeSignature, error) {
	return r.Store.Signature(ctx, id)
}
