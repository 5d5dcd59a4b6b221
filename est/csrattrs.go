package est

import (
	"encoding/asn1"

	gsest "github.com/globalsign/est"

	"github.com/vcc/vccpki/ca/profile"
)

// Object identifiers of the CSR attributes we ask for.
var (
	oidECPublicKey      = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}      // RFC 5480 id-ecPublicKey
	oidRSAEncryption    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}  // RFC 8017 rsaEncryption
	oidEd25519          = asn1.ObjectIdentifier{1, 3, 101, 112}              // RFC 8410 id-Ed25519
	oidExtensionRequest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 14} // RFC 2985 extensionRequest
	oidCommonName       = asn1.ObjectIdentifier{2, 5, 4, 3}                  // X.520 commonName
	oidSAN              = asn1.ObjectIdentifier{2, 5, 29, 17}                // RFC 5280 §4.2.1.6
	oidKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}                // RFC 5280 §4.2.1.3
	oidExtKeyUsage      = asn1.ObjectIdentifier{2, 5, 29, 37}                // RFC 5280 §4.2.1.12
	curveOIDs           = map[string]asn1.ObjectIdentifier{
		"P-256": {1, 2, 840, 10045, 3, 1, 7}, // RFC 5480 secp256r1
		"P-384": {1, 3, 132, 0, 34},          // secp384r1
		"P-521": {1, 3, 132, 0, 35},          // secp521r1
	}
)

// csrAttrs is what /csrattrs tells a client about a profile (RFC 7030
// §4.5.2), in the shape of that section's example: challengePassword when
// channel binding is required; the accepted key types, an EC key as an
// id-ecPublicKey attribute listing its curves; commonName for profiles
// that name a subject; and an extensionRequest attribute listing the
// extensions the template accepts.
func csrAttrs(p *profile.Profile) gsest.CSRAttrs {
	var a gsest.CSRAttrs
	if p.EST.ChannelBinding {
		a.OIDs = append(a.OIDs, oidChallengePassword)
	}
	if p.SubjectPattern != "" {
		a.OIDs = append(a.OIDs, oidCommonName)
	}
	for _, k := range p.Keys {
		switch k.Type {
		case profile.KeyECDSA:
			curves := gsest.AttributeValueSET{}
			for _, c := range k.Curves {
				if oid, ok := curveOIDs[c]; ok {
					curves = append(curves, oid)
				}
			}
			a.Attributes = append(a.Attributes, gsest.Attribute{Type: oidECPublicKey, Values: curves})
		case profile.KeyRSA:
			a.OIDs = append(a.OIDs, oidRSAEncryption)
		case profile.KeyEd25519:
			a.OIDs = append(a.OIDs, oidEd25519)
		}
	}
	exts := gsest.AttributeValueSET{oidKeyUsage, oidExtKeyUsage}
	if p.SubjectPattern == "" {
		exts = append(gsest.AttributeValueSET{oidSAN}, exts...)
	}
	a.Attributes = append(a.Attributes, gsest.Attribute{Type: oidExtensionRequest, Values: exts})
	return a
}
