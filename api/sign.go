package api

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vcc/vccpki/api/auth"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/sign"
	"github.com/vcc/vccpki/sign/verify"
	"github.com/vcc/vccpki/store"
)

// Server-side signing (POST /sign) with the server-held key of a signing
// profile, and the signature registry (/signatures).

// SignRequest asks for a signature over a manifest digest or a DSSE
// payload; exactly one of Digest and Payload.
type SignRequest struct {
	Profile      string `json:"profile"`
	ArtifactType string `json:"artifact_type"`
	Name         string `json:"name"`
	// Digest is the hex SHA-256 of what is signed (a SHA256SUMS file):
	// the answer is a blob bundle that cosign verify-blob accepts with
	// that file.
	Digest string `json:"digest,omitempty"`
	// Payload is a DSSE payload (base64), such as a model's OMS in-toto
	// statement, with its PayloadType.
	Payload     []byte `json:"payload,omitempty"`
	PayloadType string `json:"payload_type,omitempty"`
}

// Signed is a server-side signature: the Sigstore bundle, and its parts
// for tools that want them apart.
type Signed struct {
	Registration     Signature       `json:"registration"`
	Bundle           json.RawMessage `json:"bundle"`
	Signature        []byte          `json:"signature"`         // base64
	CertificateChain string          `json:"certificate_chain"` // PEM, signer first
	Timestamp        []byte          `json:"timestamp"`         // base64 DER TimeStampResp
}

// RegisterRequest registers a signature made elsewhere (a developer's
// key): the Sigstore bundle sign/ wrote.
type RegisterRequest struct {
	ArtifactType string          `json:"artifact_type"`
	Name         string          `json:"name"`
	Profile      string          `json:"profile,omitempty"`
	Bundle       json.RawMessage `json:"bundle"`
}

// Signature is an entry of the signature registry.
type Signature struct {
	ID              string    `json:"id"`
	ArtifactType    string    `json:"artifact_type"`
	Name            string    `json:"name"`
	Digest          string    `json:"digest"`
	SignatureDigest string    `json:"signature_digest"`
	Profile         string    `json:"profile,omitempty"`
	SignerSerial    string    `json:"signer_serial"`
	SignerSubject   string    `json:"signer_subject"`
	TimestampSerial string    `json:"timestamp_serial,omitempty"`
	Source          string    `json:"source"`
	Actor           string    `json:"actor"`
	CreatedAt       time.Time `json:"created_at"`
}

// SignatureOf is a registry entry as the API and the commands show it.
func SignatureOf(g store.CodeSignature) Signature {
	return Signature{ID: g.ID, ArtifactType: g.ArtifactType, Name: g.Name, Digest: g.Digest, SignatureDigest: g.SignatureDigest,
		Profile: g.Profile, SignerSerial: g.SignerSerial, SignerSubject: g.SignerSubject, TimestampSerial: g.TimestampSerial,
		Source: g.Source, Actor: g.Actor, CreatedAt: g.CreatedAt.UTC()}
}

func (s *Server) signRoutes(add addFunc) {
	add("POST", "/sign", auth.SignArtifact, s.signArtifact)
	add("POST", "/signatures", auth.SignArtifact, s.registerSignature)
	add("GET", "/signatures", auth.SignRead, s.listSignatures)
	add("GET", "/signatures/{id}", auth.SignRead, s.getSignature)
}

func (s *Server) signatures() *sign.Registry {
	return &sign.Registry{Store: s.cfg.Store, Now: s.cfg.Now}
}

// signArtifact: POST /sign.
func (s *Server) signArtifact(c *call) error {
	var req SignRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if err := sign.CheckArtifact(req.ArtifactType, req.Name); err != nil {
		return problem(http.StatusBadRequest, ProbMalformed, err.Error())
	}
	var digest []byte
	switch {
	case (req.Digest == "") == (len(req.Payload) == 0):
		return problem(http.StatusBadRequest, ProbMalformed, "give exactly one of digest (hex SHA-256 of a manifest) and payload (a DSSE payload, base64)")
	case req.Digest != "":
		d, err := hex.DecodeString(strings.TrimPrefix(req.Digest, "sha256:"))
		if err != nil || len(d) != 32 {
			return problem(http.StatusBadRequest, ProbMalformed, "digest: want 64 hex digits, the SHA-256 of what is signed")
		}
		digest = d
	case req.PayloadType == "":
		return problem(http.StatusBadRequest, ProbMalformed, "payload_type is needed with payload (application/vnd.in-toto+json for a model)")
	}
	if s.cfg.TimestampPolicy.String() == "" {
		return problem(http.StatusServiceUnavailable, ProbUnavailable, "time-stamping is not configured on this server, and a signature without a time-stamp stops verifying when its certificate expires")
	}
	sk, err := s.cfg.Engine.SigningKey(c.r.Context(), req.Profile, !s.cfg.NoSigningKeyCreation, ca.Requester{Protocol: "api", Subject: c.actor()})
	if err != nil {
		return err
	}
	// The time-stamp is signed here but recorded below, with the registry
	// entry and both audit entries: one commit per request, and the answer
	// only after it. A failure before that commit (or a crash) leaves
	// nothing of the signature, its token or its entries.
	signer := &sign.Signer{Key: sk.Signer, Cert: sk.Cert, Chain: sk.Chain}
	var st *sign.Stamped
	if digest != nil {
		st, err = signer.SignDigestStamped(c.r.Context(), digest, s.cfg.Engine, s.cfg.TimestampPolicy)
	} else {
		st, err = signer.SignDSSEStamped(c.r.Context(), req.Payload, req.PayloadType, s.cfg.Engine, s.cfg.TimestampPolicy)
	}
	if err != nil {
		return err
	}
	g, err := s.signatures().Register(context.WithoutCancel(c.r.Context()), sign.Registration{ArtifactType: req.ArtifactType, Name: req.Name,
		Summary: st.Summary, Token: &st.Token, Profile: req.Profile, Source: store.SignatureServer, Actor: c.actor(),
		Audit: []store.AuditEvent{s.callEvent(c, http.StatusCreated, nil)}})
	if err != nil {
		return err
	}
	c.audited = true
	sign.SignaturesCreated.WithLabelValues(req.Profile).Inc()
	c.w.Header().Set("Location", Prefix+"/signatures/"+g.ID)
	return c.replySigned(st.Bundle, signedParts{Registration: SignatureOf(g), Signature: st.Summary.Signature,
		CertificateChain: s.chainPEM(sk), Timestamp: st.Summary.TimestampDER})
}

// signedParts is Signed without its bundle.
type signedParts struct {
	Registration     Signature `json:"registration"`
	Signature        []byte    `json:"signature"`
	CertificateChain string    `json:"certificate_chain"`
	Timestamp        []byte    `json:"timestamp"`
}

// replySigned answers 201 with a Signed: the bundle, as protojson wrote
// it, spliced in before the other members. Through a json.RawMessage,
// encoding/json would scan and compact the bundle's kilobytes again for
// every signature.
func (c *call) replySigned(bundle []byte, rest signedParts) error {
	b, err := json.Marshal(rest)
	if err != nil {
		return err
	}
	out := make([]byte, 0, len(`{"bundle":,`)+len(bundle)+len(b))
	out = append(out, `{"bundle":`...)
	out = append(out, bundle...)
	out = append(out, ',')
	out = append(out, b[1:]...) // b is an object with members
	c.w.Header().Set("Content-Type", "application/json")
	c.status = http.StatusCreated
	c.w.WriteHeader(http.StatusCreated)
	_, _ = c.w.Write(append(out, '\n'))
	return nil
}

// chainPEMs holds chainPEM's answers by signer certificate (a signing
// key's, of which a server has a few per profile over the years).
var chainPEMs sync.Map

// chainPEM is a signing key's certificate and chain in PEM, signer first,
// encoded once per certificate.
func (s *Server) chainPEM(sk *ca.SigningKey) string {
	if v, ok := chainPEMs.Load(sk.Cert); ok {
		return v.(string)
	}
	var chain strings.Builder
	for _, crt := range append([]*x509.Certificate{sk.Cert}, sk.Chain...) {
		_ = pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: crt.Raw})
	}
	chainPEMs.Store(sk.Cert, chain.String())
	return chain.String()
}

// registerSignature: POST /signatures, for a signature made with a
// developer's key. The signer's certificate must chain to this CA's root
// with codeSigning, and the signature must verify with its key.
func (s *Server) registerSignature(c *call) error {
	var req RegisterRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if err := sign.CheckArtifact(req.ArtifactType, req.Name); err != nil {
		return problem(http.StatusBadRequest, ProbMalformed, err.Error())
	}
	if len(req.Bundle) == 0 {
		return problem(http.StatusBadRequest, ProbMalformed, "bundle: the Sigstore bundle (JSON) is needed")
	}
	sum, err := sign.Summarize(req.Bundle)
	if err != nil {
		return problem(http.StatusBadRequest, ProbMalformed, err.Error())
	}
	if err := s.checkSigner(sum); err != nil {
		return problem(http.StatusBadRequest, ProbRejected, err.Error())
	}
	if err := verify.BundleSignature(req.Bundle); err != nil {
		return problem(http.StatusBadRequest, ProbRejected, "the bundle's signature does not verify with its signer's key: "+err.Error())
	}
	g, err := s.signatures().Register(c.r.Context(), sign.Registration{ArtifactType: req.ArtifactType, Name: req.Name, Summary: sum,
		Profile: req.Profile, Source: store.SignatureClient, Actor: c.actor()})
	if errors.Is(err, store.ErrConflict) {
		return problem(http.StatusConflict, ProbConflict, "this signature is registered already")
	}
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", Prefix+"/signatures/"+g.ID)
	return c.reply(http.StatusCreated, SignatureOf(g))
}

// listSignatures: GET /signatures?digest=&name=&signer=&signature_digest=&limit=&cursor=
func (s *Server) listSignatures(c *call) error {
	limit, err := c.limit()
	if err != nil {
		return err
	}
	cur, _, err := c.cursor("signatures")
	if err != nil {
		return err
	}
	q := c.r.URL.Query()
	f := store.SignatureFilter{Digest: strings.ToLower(strings.TrimPrefix(q.Get("digest"), "sha256:")), Name: q.Get("name"),
		SignerSerial: strings.ToLower(q.Get("signer")), SignatureDigest: strings.ToLower(q.Get("signature_digest")), After: cur.Key, Limit: limit + 1}
	gs, err := s.cfg.Store.Signatures(c.r.Context(), f)
	if err != nil {
		return err
	}
	page := Page[Signature]{Items: []Signature{}}
	for i, g := range gs {
		if i == limit {
			page.Next = encodeCursor(cursor{Kind: "signatures", Key: gs[i-1].ID})
			break
		}
		page.Items = append(page.Items, SignatureOf(g))
	}
	return c.reply(http.StatusOK, page)
}

// getSignature: GET /signatures/{id}
func (s *Server) getSignature(c *call) error {
	g, err := s.cfg.Store.Signature(c.r.Context(), c.r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return problem(http.StatusNotFound, ProbNotFound, "no registered signature "+c.r.PathValue("id"))
	}
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, SignatureOf(g))
}

// checkSigner: the bundle's signer certificate chains to this CA's root
// and may sign code, at the time-stamp's time if there is one.
func (s *Server) checkSigner(sum *sign.Summary) error {
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(s.cfg.Engine.Root())
	for _, c := range sum.Chain {
		inter.AddCert(c)
	}
	at := s.cfg.Now()
	if sum.Timestamp != nil {
		at = sum.Timestamp.Time
	}
	if _, err := sum.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
		return errors.New("the signer's certificate is not a code-signing certificate of this CA: " + err.Error())
	}
	return nil
}
