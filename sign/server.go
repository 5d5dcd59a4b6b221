package sign

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/digitorus/timestamp"
	"google.golang.org/protobuf/encoding/protojson"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/store"
)

// Entry points for signing without the artifact at hand: the server
// signs what a CI pipeline sends (POST /api/v1/sign), a digest or a DSSE
// payload, never the files.

// Stamper gets an RFC 3161 time-stamp over SHA-256 of a signature value:
// the DER TimeStampResp and the TimeStampToken in it. *Timestamper asks a
// TSA over HTTP; *EngineTimestamper asks the CA engine in process.
type Stamper interface {
	StampToken(ctx context.Context, signature []byte) (resp, token []byte, err error)
}

// SignDSSE signs an in-toto (or any) DSSE payload and returns the Sigstore
// bundle (JSON). For a model, payload is the OMS statement that
// NewStatement makes, and payloadType InTotoPayloadType.
func (s *Signer) SignDSSE(ctx context.Context, payload []byte, payloadType string) ([]byte, error) {
	if len(payload) == 0 || payloadType == "" {
		return nil, errors.New("a DSSE payload and its type are needed")
	}
	return s.bundle(ctx, &sgsign.DSSEData{Data: payload, PayloadType: payloadType})
}

// SignDigest signs a SHA-256 digest of a file as `cosign sign-blob
// --bundle` signs the file: the bundle's messageSignature holds the
// digest, and a verifier given the file (cosign verify-blob) accepts it.
// The key must sign SHA-256 digests (ECDSA P-256, RSA).
func (s *Signer) SignDigest(ctx context.Context, digest []byte) ([]byte, error) {
	kp, err := s.digestKeypair(digest)
	if err != nil {
		return nil, err
	}
	return s.bundleWith(ctx, &digestContent{digest: digest}, kp)
}

func (s *Signer) digestKeypair(digest []byte) (sgsign.Keypair, error) {
	if len(digest) != sha256.Size {
		return nil, fmt.Errorf("a SHA-256 digest has %d bytes, not %d", sha256.Size, len(digest))
	}
	if _, ok := s.Key.Public().(ed25519.PublicKey); ok {
		return nil, errors.New("Ed25519 signs no digest: sign a DSSE payload instead")
	}
	kp, err := newKeypair(s.Key)
	if err != nil {
		return nil, err
	}
	if kp.GetHashAlgorithm() != protocommon.HashAlgorithm_SHA2_256 {
		return nil, fmt.Errorf("the key signs %s digests, not SHA-256: use an ECDSA P-256 or RSA key", kp.GetHashAlgorithm())
	}
	return &prehashed{kp}, nil
}

// TokenSigner signs RFC 3161 tokens in process and leaves their records
// to the caller (*ca.Engine).
type TokenSigner interface {
	SignTimestamp(ctx context.Context, req ca.TimestampRequest) (ca.Timestamped, store.TimestampRecord, error)
}

// Stamped is a signature made in process (POST /api/v1/sign): the bundle
// (JSON), what the registry keeps of it, and the record of its
// time-stamp, which the caller must make durable, with the registry entry
// in one transaction (store.SignatureStore.RecordStampedSignature),
// before the bundle leaves.
type Stamped struct {
	Bundle  []byte
	Summary *Summary // Summary.Timestamp holds only SerialNumber and Time
	Token   store.TimestampRecord
}

// SignDigestStamped is SignDigest time-stamped by tsa in process, its
// token's record left to the caller. The signer's Stamper and TSA are not
// used.
func (s *Signer) SignDigestStamped(ctx context.Context, digest []byte, tsa TokenSigner, policy ca.TimestampPolicy) (*Stamped, error) {
	kp, err := s.digestKeypair(digest)
	if err != nil {
		return nil, err
	}
	return s.stamped(ctx, &digestContent{digest: digest}, kp, digest, tsa, policy)
}

// SignDSSEStamped is SignDSSE as SignDigestStamped is SignDigest.
func (s *Signer) SignDSSEStamped(ctx context.Context, payload []byte, payloadType string, tsa TokenSigner, policy ca.TimestampPolicy) (*Stamped, error) {
	if len(payload) == 0 || payloadType == "" {
		return nil, errors.New("a DSSE payload and its type are needed")
	}
	kp, err := newKeypair(s.Key)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(payload)
	return s.stamped(ctx, &sgsign.DSSEData{Data: payload, PayloadType: payloadType}, kp, sum[:], tsa, policy)
}

// stamped signs content and builds the registry's summary from what was
// signed here, without parsing the bundle again (Summarize does, and
// verifies the token's signature, for bundles from elsewhere).
func (s *Signer) stamped(ctx context.Context, content sgsign.Content, kp sgsign.Keypair, digest []byte, tsa TokenSigner, policy ca.TimestampPolicy) (*Stamped, error) {
	st := &unrecordedStamper{tsa: tsa, policy: policy}
	one := *s
	one.Stamper = st
	b, sig, err := one.bundleProto(ctx, content, kp)
	if err != nil {
		return nil, err
	}
	js, err := protojson.Marshal(b)
	if err != nil {
		return nil, err
	}
	return &Stamped{Bundle: js, Token: st.rec, Summary: &Summary{Signature: sig, Digest: digest, Leaf: s.Cert, Chain: s.Chain,
		Timestamp:    &timestamp.Timestamp{SerialNumber: big.NewInt(st.got.Serial), Time: st.got.Time},
		TimestampDER: st.got.DER}}, nil
}

// unrecordedStamper time-stamps one signature through a TokenSigner and
// keeps the token and its record.
type unrecordedStamper struct {
	tsa    TokenSigner
	policy ca.TimestampPolicy
	got    ca.Timestamped
	rec    store.TimestampRecord
}

func (t *unrecordedStamper) StampToken(ctx context.Context, signature []byte) ([]byte, []byte, error) {
	sum := sha256.Sum256(signature)
	got, rec, err := t.tsa.SignTimestamp(ctx, ca.TimestampRequest{Hash: crypto.SHA256, Digest: sum[:], Policy: t.policy, CertReq: true})
	if err != nil {
		return nil, nil, fmt.Errorf("time-stamping: %w", err)
	}
	t.got, t.rec = got, rec
	return got.DER, nil, nil // the token alone is not used by bundleProto
}

// digestContent is a blob known only by its SHA-256.
type digestContent struct{ digest []byte }

func (d *digestContent) PreAuthEncoding() []byte { return d.digest }
func (d *digestContent) Bundle(b *protobundle.Bundle, signature, digest []byte, h protocommon.HashAlgorithm) {
	(&sgsign.PlainData{}).Bundle(b, signature, digest, h)
}

// prehashed signs what it is given as a SHA-256 digest, unhashed.
type prehashed struct{ *keypair }

func (k *prehashed) SignData(_ context.Context, digest []byte) ([]byte, []byte, error) {
	sig, err := k.s.Sign(rand.Reader, digest, crypto.SHA256)
	return sig, digest, err
}

// EngineTimestamper time-stamps in process, through the CA engine that
// holds the TSA key, as the /tsa front end would over HTTP.
type EngineTimestamper struct {
	Engine interface {
		Timestamp(ctx context.Context, req ca.TimestampRequest) (ca.Timestamped, error)
	}
	Policy ca.TimestampPolicy // the TSA policy tokens carry (the TSA's default)
}

// StampToken implements Stamper: SHA-256 imprint, the TSA certificate in
// the token (certReq), no nonce (nothing travels). The engine's token is
// not verified again: it was signed here a moment ago.
func (t *EngineTimestamper) StampToken(ctx context.Context, signature []byte) ([]byte, []byte, error) {
	sum := sha256.Sum256(signature)
	got, err := t.Engine.Timestamp(ctx, ca.TimestampRequest{Hash: crypto.SHA256, Digest: sum[:], Policy: t.Policy, CertReq: true})
	if err != nil {
		return nil, nil, fmt.Errorf("time-stamping: %w", err)
	}
	// TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken OPTIONAL }
	var resp struct {
		Status asn1.RawValue
		Token  asn1.RawValue `asn1:"optional"`
	}
	if rest, err := asn1.Unmarshal(got.DER, &resp); err != nil || len(rest) > 0 || len(resp.Token.FullBytes) == 0 {
		return nil, nil, fmt.Errorf("time-stamping: the engine's reply holds no token")
	}
	return got.DER, resp.Token.FullBytes, nil
}

// StampToken implements Stamper.
func (t *Timestamper) StampToken(ctx context.Context, signature []byte) ([]byte, []byte, error) {
	resp, ts, err := t.Stamp(ctx, signature)
	if err != nil {
		return nil, nil, err
	}
	if len(ts.RawToken) == 0 {
		return nil, nil, errors.New("the time-stamp reply holds no token")
	}
	return resp, ts.RawToken, nil
}
