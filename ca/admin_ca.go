package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/vcc/vccpki/ca/keys"
	"github.com/vcc/vccpki/store"
)

// AddAdminCA gives a hierarchy made before the VCC Admin CA existed its
// Admin CA and the CA's OCSP responder, signed by the root, each stored
// with its key and an audit entry. It adds only what is missing, so a run
// interrupted between the two completes on the next; it reports whether
// it added anything.
func AddAdminCA(ctx context.Context, st store.Store, ks keys.Source, cfg Config, actor string) (bool, error) {
	if err := cfg.Validate(); err != nil {
		return false, err
	}
	recs, err := st.CAs(ctx)
	if err != nil {
		return false, err
	}
	have := map[string]store.CARecord{}
	for _, r := range recs {
		have[r.Name] = r
	}
	root, ok := have[RootCA]
	if !ok {
		return false, fmt.Errorf("the store holds no CA hierarchy: run vccpki init")
	}
	signed, signers := map[string]*x509.Certificate{}, map[string]crypto.Signer{}
	load := func(r store.CARecord) error {
		c, err := x509.ParseCertificate(r.DER)
		if err != nil {
			return fmt.Errorf("CA record %q: %w", r.Name, err)
		}
		s, err := ks.Signer(ctx, r.KeyID)
		if err != nil {
			return fmt.Errorf("the key of %s: %w", r.Name, err)
		}
		signed[r.Name], signers[r.Name] = c, s
		return nil
	}
	if err := load(root); err != nil {
		return false, err
	}
	now := cfg.Now().UTC().Truncate(time.Second)
	plan := adminCAPlan(&cfg, now)
	if a, ok := have[AdminCA]; ok {
		if err := load(a); err != nil {
			return false, err
		}
		plan = plan[1:]
	}
	if _, ok := have[OCSPResponderName(AdminCA)]; ok {
		plan = plan[:len(plan)-1]
	}
	added := false
	for _, p := range plan {
		keyRecs, caRecs, err := signPlan(ctx, ks, &cfg, []planned{p}, now, signed, signers)
		if err != nil {
			return added, err
		}
		ev := store.AuditEvent{Time: now, Actor: actor, Action: "ca.add-admin-ca", Object: p.name, Result: "ok"}
		if err := st.PutCA(ctx, keyRecs[0], caRecs[0], ev); err != nil {
			return added, err
		}
		added = true
	}
	return added, nil
}
