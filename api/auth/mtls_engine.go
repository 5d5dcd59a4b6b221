package auth

import (
	"context"
	"crypto/x509"
	"fmt"
	"math/big"

	"github.com/vcc/vccpki/ca"
)

// AdminMTLS is the client-certificate authenticator of the engine's VCC
// Admin CA: the hierarchy's other CAs are refused by name, and revocation
// is the engine's record (what OCSP answers).
func AdminMTLS(e *ca.Engine) (*MTLS, error) {
	admin, ok := e.CACert(ca.AdminCA)
	if !ok {
		return nil, fmt.Errorf("the hierarchy has no Admin CA: run vccpki ca add-admin-ca")
	}
	var others []*x509.Certificate
	for _, n := range []string{ca.RootCA, ca.ServicesCA, ca.CodeSigningCA} {
		if c, ok := e.CACert(n); ok {
			others = append(others, c)
		}
	}
	return NewMTLS(MTLSConfig{
		AdminCA: admin,
		Others:  others,
		Status: func(ctx context.Context, serial *big.Int) (CertStatus, error) {
			st, err := e.StatusOf(ctx, ca.AdminCA, serial)
			if err != nil {
				return CertUnknown, err
			}
			switch st.Status {
			case ca.Good:
				return CertGood, nil
			case ca.Revoked:
				return CertRevoked, nil
			}
			return CertUnknown, nil
		},
	})
}
