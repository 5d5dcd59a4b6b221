package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/vcc/vccpki/api"
	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/sign"
	"github.com/vcc/vccpki/sign/verify"
	"github.com/vcc/vccpki/store"
)

// Server-held signing keys and the signature registry, on the CA host.

func runSignKeyCreate(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("sign key create", "--profile P", out)
	profileName := fs.String("profile", "", "the signing profile (clara-signing, covina-signing, veritas-signing, vpb-signing)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *profileName == "" {
		return &exitError{2, "sign key create needs --profile"}
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	e, _, err := a.engine(ctx, "", false, nil)
	if err != nil {
		return err
	}
	user := strings.TrimPrefix(a.actor, "operator:")
	sk, err := e.CreateSigningKey(ctx, *profileName, ca.Requester{Protocol: ca.ProtocolOperator, Subject: user})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "signing key of %s: certificate %s (%s), valid until %s\n", sk.Profile, ca.FormatSerial(sk.Cert.SerialNumber),
		sk.Cert.Subject.CommonName, sk.Cert.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

func runSignaturesList(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("signatures list", "[--digest HEX] [--name NAME] [--signer SERIAL] [--limit N] [--json]", out)
	digest := fs.String("digest", "", "hex SHA-256 of what was signed")
	name := fs.String("name", "", "artifact name")
	signer := fs.String("signer", "", "signer certificate serial (hex)")
	limit := fs.Int("limit", 1000, "at most this many")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	reg := &sign.Registry{Store: a.store}
	gs, err := reg.List(ctx, store.SignatureFilter{Digest: *digest, Name: *name, SignerSerial: *signer, Limit: *limit})
	if err != nil {
		return err
	}
	if err := a.audit(ctx, "signatures.list", fmt.Sprintf("digest=%s name=%s signer=%s", *digest, *name, *signer), fmt.Sprintf("ok: %d found", len(gs))); err != nil {
		return err
	}
	views := make([]api.Signature, len(gs))
	for i, g := range gs {
		views[i] = api.SignatureOf(g)
	}
	return printList(out, *asJSON, views, "ID\tTYPE\tNAME\tDIGEST\tSIGNER\tSOURCE\tCREATED", func(v api.Signature) string {
		return strings.Join([]string{v.ID, v.ArtifactType, v.Name, v.Digest, v.SignerSerial, v.Source, v.CreatedAt.Format(time.RFC3339)}, "\t")
	})
}

func runSignaturesShow(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("signatures show", "ID", out)
	id, err := parseOneArg(fs, args, "signature ID")
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	g, err := (&sign.Registry{Store: a.store}).Show(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return &exitError{1, "no registered signature " + id}
	}
	if err != nil {
		return err
	}
	if err := a.audit(ctx, "signatures.show", id, "ok"); err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(api.SignatureOf(g))
}

// registryFlags are verify's --registry options.
type registryFlags struct {
	url, tokenFile, cert, key, caFile string
}

func (rf *registryFlags) register(fs interface {
	StringVar(p *string, name, value, usage string)
}) {
	fs.StringVar(&rf.url, "registry", "", "also require the signature to be in this server's signature registry (https://HOST:PORT)")
	fs.StringVar(&rf.tokenFile, "registry-token-file", "", "a file holding a bearer token for the registry (default: $VCCPKI_TOKEN)")
	fs.StringVar(&rf.cert, "registry-cert", "", "a client certificate of the VCC Admin CA (PEM), instead of a token")
	fs.StringVar(&rf.key, "registry-key", "", "the client certificate's key (PEM)")
	fs.StringVar(&rf.caFile, "registry-ca", "", "the root the registry's HTTPS certificate chains to (default: --root)")
}

// check asks the registry, if one was given, about a verified signature.
func (rf *registryFlags) check(ctx context.Context, root string, sig []byte) error {
	if rf.url == "" {
		return nil
	}
	caFile := rf.caFile
	if caFile == "" {
		caFile = root
	}
	roots, err := sign.ReadCertificates(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if rf.cert != "" {
		kp, err := tls.LoadX509KeyPair(rf.cert, rf.key)
		if err != nil {
			return &exitError{2, "--registry-cert/--registry-key: " + err.Error()}
		}
		tc.Certificates = []tls.Certificate{kp}
	}
	token := os.Getenv("VCCPKI_TOKEN")
	if rf.tokenFile != "" {
		b, err := os.ReadFile(rf.tokenFile)
		if err != nil {
			return err
		}
		token = strings.TrimSpace(string(b))
	}
	r := &verify.Registry{URL: rf.url, Token: token,
		Client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}}
	return r.Check(ctx, sig)
}
