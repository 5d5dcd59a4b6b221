package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/vcc/vccpki/ca/keys/pkcs11"
)

// Key is a signer's private key, in a file or a PKCS#11 token.
type Key struct {
	crypto.Signer
	close func() error
}

// Close releases the token session, if any.
func (k *Key) Close() error {
	if k.close == nil {
		return nil
	}
	return k.close()
}

// LoadKey opens a signing key: a PEM file (PKCS#8 "PRIVATE KEY", or SEC 1
// "EC PRIVATE KEY"), or an RFC 7512 PKCS#11 URI
// "pkcs11:token=LABEL;object=KEYLABEL?module-path=/path/lib.so&pin-source=file:/path"
// (pin-value= is accepted too, but puts the PIN in the process list).
func LoadKey(ctx context.Context, spec string) (*Key, error) {
	if strings.HasPrefix(spec, "pkcs11:") {
		return loadPKCS11(spec)
	}
	data, err := os.ReadFile(spec)
	if err != nil {
		return nil, err
	}
	s, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec, err)
	}
	return &Key{Signer: s}, nil
}

// ParsePrivateKey reads a PEM private key: ECDSA P-256/P-384, Ed25519 or
// RSA 3072/4096.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM private key found")
		}
		var k any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the key is encrypted; decrypt it (openssl pkcs8 -in K -out K2) into a protected place, or use a PKCS#11 token")
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported key type %T", k)
		}
		if _, err := algorithmOf(s.Public()); err != nil {
			return nil, err
		}
		return s, nil
	}
}

func loadPKCS11(spec string) (*Key, error) {
	u, err := url.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("pkcs11 URI: %w", err)
	}
	attrs := map[string]string{}
	for _, kv := range strings.Split(u.Opaque, ";") {
		k, v, _ := strings.Cut(kv, "=")
		if v, err = url.PathUnescape(v); err != nil {
			return nil, fmt.Errorf("pkcs11 URI attribute %s: %w", k, err)
		}
		attrs[k] = v
	}
	q := u.Query()
	cfg := pkcs11.Config{Module: q.Get("module-path"), TokenLabel: attrs["token"], PIN: q.Get("pin-value")}
	if src := q.Get("pin-source"); src != "" {
		pin, err := os.ReadFile(strings.TrimPrefix(src, "file:"))
		if err != nil {
			return nil, fmt.Errorf("pkcs11 pin-source: %w", err)
		}
		cfg.PIN = strings.TrimSpace(string(pin))
	}
	if cfg.Module == "" || cfg.TokenLabel == "" || attrs["object"] == "" {
		return nil, errors.New("pkcs11 URI needs token=, object= and ?module-path=")
	}
	tok, err := pkcs11.Open(cfg)
	if err != nil {
		return nil, err
	}
	s, err := tok.Signer(context.Background(), attrs["object"])
	if err != nil {
		tok.Close()
		return nil, err
	}
	if _, err := algorithmOf(s.Public()); err != nil {
		tok.Close()
		return nil, err
	}
	return &Key{Signer: s, close: tok.Close}, nil
}

// algorithmOf names the Sigstore algorithm of a public key.
func algorithmOf(pub crypto.PublicKey) (protocommon.PublicKeyDetails, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, nil
		case elliptic.P384():
			return protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384, nil
		}
		return 0, fmt.Errorf("ECDSA curve %s is not supported; use P-256 or P-384", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return protocommon.PublicKeyDetails_PKIX_ED25519, nil
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 3072:
			return protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256, nil
		case 4096:
			return protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256, nil
		}
		return 0, fmt.Errorf("RSA-%d is not supported; use 3072 or 4096 bits", k.N.BitLen())
	}
	return 0, fmt.Errorf("unsupported public key type %T", pub)
}

// keypair adapts a crypto.Signer to sigstore-go's sign.Keypair.
type keypair struct {
	s       crypto.Signer
	details signature.AlgorithmDetails
	hint    []byte
}

func newKeypair(s crypto.Signer) (*keypair, error) {
	alg, err := algorithmOf(s.Public())
	if err != nil {
		return nil, err
	}
	d, err := signature.GetAlgorithmDetails(alg)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(s.Public())
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(der)
	return &keypair{s: s, details: d, hint: []byte(base64.StdEncoding.EncodeToString(h[:]))}, nil
}

func (k *keypair) GetHashAlgorithm() protocommon.HashAlgorithm { return k.details.GetProtoHashType() }
func (k *keypair) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return k.details.GetSignatureAlgorithm()
}
func (k *keypair) GetHint() []byte                { return k.hint }
func (k *keypair) GetPublicKey() crypto.PublicKey { return k.s.Public() }

func (k *keypair) GetKeyAlgorithm() string {
	switch k.details.GetKeyType() {
	case signature.ECDSA:
		return "ECDSA"
	case signature.RSA:
		return "RSA"
	case signature.ED25519:
		return "ED25519"
	}
	return ""
}

func (k *keypair) GetPublicKeyPem() (string, error) {
	b, err := cryptoutils.MarshalPublicKeyToPEM(k.s.Public())
	return string(b), err
}

// SignData signs data; it returns the signature and the digest signed
// (the data itself for pure Ed25519, which hashes inside).
func (k *keypair) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	hf := k.details.GetHashType()
	toSign := data
	if hf != crypto.Hash(0) {
		h := hf.New()
		h.Write(data)
		toSign = h.Sum(nil)
	}
	sig, err := k.s.Sign(rand.Reader, toSign, hf)
	return sig, toSign, err
}

var _ io.Closer = (*Key)(nil)
