package ca

import (
	"context"
	"errors"
	"time"

	"github.com/vcc/vccpki/store"
)

// ExportState copies into to, an empty store (a new SQLite file the
// operator carries to the root's host), what a ceremony reads of the
// serving store from: the CA records with their revocations (the root
// CRL lists the revoked ones), the public URL the certificates name, and
// the last root CRL imported (so that numbers continue). No key, no
// certificate of a subscriber, no audit entry leaves the serving side.
func ExportState(ctx context.Context, from, to store.Store, actor string) error {
	recs, err := from.CAs(ctx)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return errors.New("the data directory holds no CA")
	}
	clean := make([]store.CARecord, len(recs))
	var keyRecs []store.KeyRecord
	seen := map[string]bool{}
	for i, r := range recs {
		r.RevokedAt, r.RevocationReason = time.Time{}, 0
		clean[i] = r
		// The records name their keys; the keys stay here.
		if !seen[r.KeyID] {
			seen[r.KeyID] = true
			keyRecs = append(keyRecs, store.KeyRecord{ID: r.KeyID, Algorithm: OfflineKeyAlgorithm, Sealed: []byte("not exported")})
		}
	}
	ev := store.AuditEvent{Actor: actor, Action: "ceremony.export-state", Object: "hierarchy", Result: "ok"}
	if err := to.CreateHierarchy(ctx, keyRecs, clean, ev); err != nil {
		return err
	}
	for _, r := range recs {
		if r.RevokedAt.IsZero() {
			continue
		}
		ev := store.AuditEvent{Actor: actor, Action: "ceremony.export-state", Object: "revoked " + r.Name, Result: "ok"}
		if err := to.RevokeCA(ctx, r.Name, r.RevokedAt, r.RevocationReason, ev); err != nil {
			return err
		}
	}
	if pub, err := from.Setting(ctx, store.SettingPublicURL); err == nil {
		if _, err := to.AdoptSetting(ctx, store.SettingPublicURL, pub, ev); err != nil {
			return err
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if sc, err := from.LatestCRL(ctx, RootCA, 0); err == nil {
		return to.PutCRL(ctx, sc)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}
