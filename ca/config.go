package ca

import (
	"crypto/x509/pkix"
	"fmt"
	"strconv"
	"time"

	"github.com/vcc/vccpki/ca/keys"
)

// Names of the CAs of the hierarchy. They appear in URLs
// (/ca/<name>.crt, /crl/<name>.crl) and in the store.
const (
	RootCA        = "root"
	ServicesCA    = "services"
	CodeSigningCA = "code-signing"
	// AdminCA issues the client certificates of API service accounts
	// (level 2d of the VCC roadmap); data directories made before it
	// existed get it from AddAdminCA (vccpki ca add-admin-ca).
	AdminCA   = "admin"
	TSAName   = "tsa"
	HTTPSName = "https"
)

// OCSPResponderName is the name of the delegated OCSP responder of a CA.
func OCSPResponderName(issuer string) string { return "ocsp-" + issuer }

// IssuingCAs are the issuing CAs Bootstrap creates (and AddAdminCA adds).
// A hierarchy may have more (vccpki ca create): ask the engine
// (Engine.IssuingCAs) or the store (IssuingCANames) for the CAs it has.
var IssuingCAs = []string{ServicesCA, CodeSigningCA, AdminCA}

// CertConfig describes one certificate of the hierarchy.
type CertConfig struct {
	CommonName string
	KeyType    keys.Type
	Validity   time.Duration
}

// HierarchyConfig names and sizes the hierarchy created on first start.
type HierarchyConfig struct {
	Organization string
	Country      string // ISO 3166 code; CA/B rules want it in CA and code-signing subjects
	Province     string // code-signing subjects need Province or Locality (CS BR §7.1.4.2.2)
	Locality     string
	Root         CertConfig
	Services     CertConfig
	CodeSigning  CertConfig
	Admin        CertConfig
	OCSP         CertConfig // CommonName is a prefix: "<prefix> <CA common name>"
	TSA          CertConfig
	HTTPS        CertConfig
	HTTPSNames   []string // besides localhost, 127.0.0.1 and ::1
}

// DefaultHierarchy is what an empty configuration gets: ECDSA P-256
// throughout, a 20-year root, 10-year intermediates.
func DefaultHierarchy() HierarchyConfig {
	const day = 24 * time.Hour
	return HierarchyConfig{
		Organization: "VCC",
		Country:      "DE",
		Root:         CertConfig{"VCC Root CA", keys.ECDSAP256, 20 * 365 * day},
		Services:     CertConfig{"VCC Services CA", keys.ECDSAP256, 10 * 365 * day},
		CodeSigning:  CertConfig{"VCC Code Signing CA", keys.ECDSAP256, 10 * 365 * day},
		Admin:        CertConfig{"VCC Admin CA", keys.ECDSAP256, 10 * 365 * day},
		OCSP:         CertConfig{"OCSP Responder for", keys.ECDSAP256, 365 * day},
		TSA:          CertConfig{"VCC Time-Stamp Authority", keys.ECDSAP256, 5 * 365 * day},
		HTTPS:        CertConfig{"", keys.ECDSAP256, 90 * day},
	}
}

// Config is the engine's validated runtime configuration.
type Config struct {
	// PublicURL is the base of the OCSP, CRL and caIssuers URLs written
	// into certificates, e.g. "http://127.0.0.1:8080".
	PublicURL   string
	Hierarchy   HierarchyConfig
	CRLValidity time.Duration // nextUpdate - thisUpdate; default 24h
	// CRLShards, when positive, spreads each issuing CA's certificates
	// over that many CRL shards: the shard is chosen at issuance and
	// written into the certificate's CRL distribution point
	// (/crl/<issuer>/<shard>.crl). 0 points every certificate at the full
	// CRL (/crl/<issuer>.crl). Never lower it once certificates carry
	// shard URLs: their shards must stay served.
	CRLShards int
	Now       func() time.Time
	// Progress, when set, hears about each step of long work (creating
	// the hierarchy's keys), so that a command can show it.
	Progress func(step string)
}

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	pub, err := NormalizePublicURL(c.PublicURL)
	if err != nil {
		return err
	}
	c.PublicURL = pub
	if c.CRLValidity == 0 {
		c.CRLValidity = 24 * time.Hour
	}
	if c.CRLShards < 0 || c.CRLShards > MaxCRLShards {
		return fmt.Errorf("crl.shards must be between 0 and %d, not %d", MaxCRLShards, c.CRLShards)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	h := &c.Hierarchy
	for name, cc := range map[string]*CertConfig{"root": &h.Root, "services": &h.Services, "code_signing": &h.CodeSigning, "admin": &h.Admin, "ocsp": &h.OCSP, "tsa": &h.TSA, "https": &h.HTTPS} {
		if _, err := keys.ParseType(string(cc.KeyType)); err != nil {
			return fmt.Errorf("hierarchy.%s.key_type: %w", name, err)
		}
		if cc.Validity <= 0 {
			return fmt.Errorf("hierarchy.%s.validity must be positive", name)
		}
	}
	if h.Services.Validity > h.Root.Validity || h.CodeSigning.Validity > h.Root.Validity || h.Admin.Validity > h.Root.Validity {
		return fmt.Errorf("hierarchy: an intermediate's validity exceeds the root's")
	}
	return nil
}

func (c *Config) subject(cn string) pkix.Name {
	n := pkix.Name{CommonName: cn}
	if c.Hierarchy.Organization != "" {
		n.Organization = []string{c.Hierarchy.Organization}
	}
	if c.Hierarchy.Country != "" {
		n.Country = []string{c.Hierarchy.Country}
	}
	return n
}

// URLs written into certificates (RFC 5280 §4.2.2.1 AIA, §4.2.1.13 CRL DP).
func (c *Config) ocspURL() string               { return c.PublicURL + "/ocsp" }
func (c *Config) caIssuersURL(ca string) string { return c.PublicURL + "/ca/" + ca + ".crt" }
func (c *Config) crlURL(ca string) string       { return c.PublicURL + "/crl/" + ca + ".crl" }
func (c *Config) crlShardURL(ca string, shard int) string {
	return c.PublicURL + "/crl/" + ca + "/" + strconv.Itoa(shard) + ".crl"
}

// MaxCRLShards bounds the shard count: beyond it the lists are small
// anyway and the number of CRLs to re-sign every period grows.
const MaxCRLShards = 1024
