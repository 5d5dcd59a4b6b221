package ca

import (
	"context"

	"github.com/vcc/vccpki/store"
)

// orgOfSerial returns the organisation owning the issuer of a certificate,
// for its audit entries; the operator when the serial is unknown (a
// refusal of an unknown serial belongs to no partner).
func (e *Engine) orgOfSerial(ctx context.Context, serial string) string {
	c, err := e.store.Certificate(ctx, serial)
	if err != nil {
		return store.OperatorOrg
	}
	return e.OrgOfIssuer(ctx, c.Issuer)
}

// OrgOfIssuer returns the organisation owning an issuing CA; the operator
// when the store cannot tell (an audit entry is then the operator's, which
// an operator can always read).
func (e *Engine) OrgOfIssuer(ctx context.Context, issuer string) string {
	org, err := e.store.CAOrganisation(ctx, issuer)
	if err != nil {
		return store.OperatorOrg
	}
	return org
}
