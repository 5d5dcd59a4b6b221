package ca

import (
	"context"
	"slices"

	"github.com/vcc/vccpki/ca/caerr"
	"github.com/vcc/vccpki/ca/keys"
)

// CheckCreateCA refuses, with CreateCA's error kinds, a request CreateCA
// would refuse before signing, from the hierarchy this engine holds: the
// management API checks a request of dual control when it is made, and
// CreateCA checks it again against the store when it is approved.
func (e *Engine) CheckCreateCA(_ context.Context, req CreateCARequest) error {
	cfg := e.cfg
	if err := req.Validate(&cfg); err != nil {
		return err
	}
	if e.ca(req.Name) != nil || e.ca(OCSPResponderName(req.Name)) != nil {
		return caerr.New(caerr.Conflict, "a CA named %q exists already", req.Name)
	}
	p := e.ca(req.Parent)
	switch {
	case p == nil || (p.role != "root" && p.role != "intermediate"):
		return caerr.New(caerr.NotFound, "no CA named %q to sign the new CA (the root or an issuing CA)", req.Parent)
	case p.revoked.Load() != nil:
		return caerr.New(caerr.Conflict, "the parent CA %s is revoked", req.Parent)
	case p.cert.MaxPathLen == 0 && p.cert.MaxPathLenZero || p.cert.MaxPathLen > 0 && req.PathLen >= p.cert.MaxPathLen:
		return caerr.New(caerr.Conflict, "the path length of %s (%d) leaves no room for a CA with path length %d below it", req.Parent, p.cert.MaxPathLen, req.PathLen)
	}
	return nil
}

// CheckRevokeCA refuses, with RevokeCA's error kinds, a revocation
// RevokeCA would refuse.
func (e *Engine) CheckRevokeCA(req RevokeCARequest) error {
	a := e.ca(req.Name)
	switch {
	case a != nil && a.role == "root":
		return caerr.New(caerr.Conflict, "the root CA is not revoked: remove it from the trust stores and create a new hierarchy")
	case a == nil || a.role != "intermediate":
		return caerr.New(caerr.NotFound, "no issuing CA named %q", req.Name)
	case !slices.Contains(caRevocationReasons, req.Reason):
		_, err := ParseCAReason(req.Reason.String())
		return err
	case a.revoked.Load() != nil:
		return caerr.New(caerr.Conflict, "the %s CA is revoked already", req.Name)
	}
	if h := e.https.Load(); h != nil && h.parent == a && !req.Force {
		return caerr.New(caerr.Conflict, "the %s CA signs this server's HTTPS certificate; revoking it breaks every client's connection until that is replaced: repeat with force", req.Name)
	}
	return nil
}

// CheckRolloverCA refuses, with RolloverCA's error kinds, a rollover
// RolloverCA would refuse, from the hierarchy this engine holds: the
// management API checks a request of dual control when it is made, and
// RolloverCA checks it again against the store when it is approved.
func (e *Engine) CheckRolloverCA(req RolloverCARequest) error {
	if req.KeyType != "" {
		if _, err := keys.ParseType(string(req.KeyType)); err != nil {
			return caerr.New(caerr.Malformed, "key type: %v", err)
		}
	}
	a := e.ca(req.Name)
	switch {
	case a != nil && a.role == "root":
		return caerr.New(caerr.Conflict, "the root is not rolled over: a new root is a new trust anchor; create a new hierarchy")
	case a == nil || a.role != "intermediate":
		return caerr.New(caerr.NotFound, "no issuing CA named %q", req.Name)
	case a.revoked.Load() != nil:
		return caerr.New(caerr.Conflict, "the %s CA is revoked: create a new CA instead", req.Name)
	case a.parent != nil && a.parent.revoked.Load() != nil:
		return caerr.New(caerr.Conflict, "the parent CA %s is revoked", a.parent.name)
	}
	return nil
}
