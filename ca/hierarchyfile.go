package ca

import (
	"fmt"
	"time"

	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/internal/conf"
)

// CertFile is one certificate of the configuration file's hierarchy section.
type CertFile struct {
	CommonName string        `yaml:"common_name"`
	KeyType    string        `yaml:"key_type"`
	Validity   conf.Duration `yaml:"validity"`
}

// HierarchyFile is the configuration file's hierarchy section.
type HierarchyFile struct {
	Organization string   `yaml:"organization"`
	Country      string   `yaml:"country"`
	Province     string   `yaml:"province"`
	Locality     string   `yaml:"locality"`
	KeyType      string   `yaml:"key_type"`
	Root         CertFile `yaml:"root"`
	Services     CertFile `yaml:"services"`
	CodeSigning  CertFile `yaml:"code_signing"`
	Admin        CertFile `yaml:"admin"`
	OCSP         CertFile `yaml:"ocsp"`
	TSA          CertFile `yaml:"tsa"`
	HTTPS        struct {
		CertFile `yaml:",inline"`
		Names    []string `yaml:"names"`
	} `yaml:"https"`
}

// Config validates the section into the hierarchy's configuration, over
// the defaults.
func (f HierarchyFile) Config() (HierarchyConfig, error) {
	h := DefaultHierarchy()
	if f.Organization != "" {
		h.Organization = f.Organization
	}
	if f.Country != "" {
		h.Country = f.Country
	}
	h.Province, h.Locality = f.Province, f.Locality
	if f.KeyType != "" {
		t, err := keys.ParseType(f.KeyType)
		if err != nil {
			return h, fmt.Errorf("field hierarchy.key_type: %w", err)
		}
		for _, cc := range []*CertConfig{&h.Root, &h.Services, &h.CodeSigning, &h.Admin, &h.OCSP, &h.TSA, &h.HTTPS} {
			cc.KeyType = t
		}
	}
	for name, pair := range map[string]struct {
		in  CertFile
		out *CertConfig
	}{
		"root": {f.Root, &h.Root}, "services": {f.Services, &h.Services}, "code_signing": {f.CodeSigning, &h.CodeSigning}, "admin": {f.Admin, &h.Admin},
		"ocsp": {f.OCSP, &h.OCSP}, "tsa": {f.TSA, &h.TSA}, "https": {f.HTTPS.CertFile, &h.HTTPS},
	} {
		if pair.in.CommonName != "" {
			pair.out.CommonName = pair.in.CommonName
		}
		if pair.in.KeyType != "" {
			t, err := keys.ParseType(pair.in.KeyType)
			if err != nil {
				return h, fmt.Errorf("field hierarchy.%s.key_type: %w", name, err)
			}
			pair.out.KeyType = t
		}
		if pair.in.Validity != 0 {
			pair.out.Validity = time.Duration(pair.in.Validity)
		}
	}
	h.HTTPSNames = f.HTTPS.Names
	return h, nil
}
