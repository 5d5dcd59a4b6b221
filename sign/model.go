package sign

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
)

// The OpenSSF Model Signing (OMS) constants, as model_signing v1 writes
// them.
const (
	InTotoPayloadType   = "application/vnd.in-toto+json"
	InTotoStatementType = "https://in-toto.io/Statement/v1"
	ModelPredicateType  = "https://model_signing/signature/v1.0"
)

// Statement is an in-toto Statement v1 with the OMS predicate.
type Statement struct {
	Type          string         `json:"_type"`
	Subject       []Subject      `json:"subject"`
	PredicateType string         `json:"predicateType"`
	Predicate     ModelPredicate `json:"predicate"`
}

// Subject names the model and carries the digest over all resources.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// ModelPredicate is the OMS v1.0 predicate: how the model was serialized
// and every file with its digest.
type ModelPredicate struct {
	Serialization Serialization `json:"serialization"`
	Resources     []Resource    `json:"resources"`
}

// Serialization is the "files" method of model_signing.
type Serialization struct {
	Method        string   `json:"method"`
	HashType      string   `json:"hash_type"`
	AllowSymlinks bool     `json:"allow_symlinks"`
	IgnorePaths   []string `json:"ignore_paths"`
}

// Resource is one file of the model.
type Resource struct {
	Name      string `json:"name"`
	Algorithm string `json:"algorithm"`
	Digest    string `json:"digest"`
}

// NewStatement makes the OMS statement of a manifest. The subject's
// digest is SHA-256 over the resources' raw digests in order (sorted by
// name), as model_signing computes it.
func NewStatement(modelName string, m *Manifest) *Statement {
	root := sha256.New()
	res := make([]Resource, len(m.Files))
	for i, f := range m.Files {
		root.Write(f.SHA256[:])
		res[i] = Resource{Name: f.Name, Algorithm: "sha256", Digest: hex.EncodeToString(f.SHA256[:])}
	}
	ignore := m.Ignore
	if ignore == nil {
		ignore = []string{}
	}
	return &Statement{
		Type:          InTotoStatementType,
		Subject:       []Subject{{Name: modelName, Digest: map[string]string{"sha256": hex.EncodeToString(root.Sum(nil))}}},
		PredicateType: ModelPredicateType,
		Predicate: ModelPredicate{
			Serialization: Serialization{Method: "files", HashType: "sha256", AllowSymlinks: false, IgnorePaths: ignore},
			Resources:     res,
		},
	}
}

// ParseStatement reads an OMS statement and checks its types and its
// subject digest against its resources.
func ParseStatement(payload []byte) (*Statement, []FileDigest, error) {
	var st Statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, nil, fmt.Errorf("in-toto statement: %w", err)
	}
	if st.Type != InTotoStatementType {
		return nil, nil, fmt.Errorf("statement type %q, want %q", st.Type, InTotoStatementType)
	}
	if st.PredicateType != ModelPredicateType {
		return nil, nil, fmt.Errorf("predicate type %q, want %q", st.PredicateType, ModelPredicateType)
	}
	if len(st.Subject) != 1 {
		return nil, nil, fmt.Errorf("statement has %d subjects, want 1", len(st.Subject))
	}
	if s := st.Predicate.Serialization; s.Method != "files" || s.HashType != "sha256" {
		return nil, nil, fmt.Errorf("serialization %s/%s is not supported (files/sha256 is)", s.Method, s.HashType)
	}
	root := sha256.New()
	files := make([]FileDigest, len(st.Predicate.Resources))
	for i, r := range st.Predicate.Resources {
		d, err := hex.DecodeString(r.Digest)
		if r.Algorithm != "sha256" || err != nil || len(d) != sha256.Size {
			return nil, nil, fmt.Errorf("resource %q: digest %s:%s is not a SHA-256", r.Name, r.Algorithm, r.Digest)
		}
		root.Write(d)
		files[i].Name = r.Name
		copy(files[i].SHA256[:], d)
	}
	if got := hex.EncodeToString(root.Sum(nil)); got != st.Subject[0].Digest["sha256"] {
		return nil, nil, errors.New("statement is inconsistent: its subject digest does not match its resources")
	}
	return &st, files, nil
}

// SignModel signs a model directory in the OMS format and returns the
// bundle (JSON). The signature file, if inside dir, must be ignored.
func (s *Signer) SignModel(ctx context.Context, dir string, opts ManifestOptions) ([]byte, error) {
	m, err := BuildManifest(dir, opts)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(NewStatement(filepath.Base(abs), m))
	if err != nil {
		return nil, err
	}
	return s.bundle(ctx, &sgsign.DSSEData{Data: payload, PayloadType: InTotoPayloadType})
}
