package ocsp

import (
	"context"
	"crypto"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/store"
)

// Pre-signing shared by the instances of one store (Config.Shared). A
// pre-signing pass asks the store, a batch of certificates at a time,
// whether another instance has signed their responses already, takes
// those that were signed for the status the certificate has now and are
// fresh enough, signs the rest and stores them for the others. So when
// several instances refresh their tables, each response is signed about
// once rather than once per instance. Responses signed for a change
// (an issuance or a revocation) are stored too.
//
// What an instance serves is still only ever what it checked against the
// current status: a stored response signed for an older status is never
// taken, and the store never lets a good response replace a revoked one.

// presignBatch is how many certificates a pre-signing worker looks up in
// the store at once.
const presignBatch = 128

func hashName(h crypto.Hash) string {
	if h == crypto.SHA256 {
		return "sha256"
	}
	return "sha1"
}

func toShared(issuer string, h crypto.Hash, st ca.SerialStatus, s ca.SignedOCSP) store.SharedOCSP {
	sh := store.SharedOCSP{Issuer: issuer, Hash: hashName(h), Serial: ca.FormatSerial(st.Serial),
		ProducedAt: s.ProducedAt, ThisUpdate: s.ThisUpdate, NextUpdate: s.NextUpdate, Signed: s.Signed}
	if st.Status == ca.Revoked {
		sh.Revoked, sh.RevokedAt, sh.Reason = true, st.RevokedAt, int(st.Reason)
	}
	return sh
}

// reusable reports whether a stored response may stand in for signing
// st's now: signed for the same status, and young enough that it stays
// valid until the table that takes it is rebuilt (Validity/2 later): at
// most Validity/4 old, so that nothing served is older than 3/4 of its
// validity.
func (r *Responder) reusable(sh store.SharedOCSP, st ca.SerialStatus) bool {
	switch {
	case st.Status == ca.Revoked:
		if !sh.Revoked || !sh.RevokedAt.Equal(st.RevokedAt) || sh.Reason != int(st.Reason) {
			return false
		}
	case st.Status != ca.Good || sh.Revoked:
		return false
	}
	now := r.cfg.Now()
	return !sh.ThisUpdate.Before(now.Add(-r.cfg.Validity/4)) && sh.NextUpdate.After(now.Add(r.cfg.Validity/2))
}

// presign fills nt with responses for a batch of certificates: taken from
// the store where another instance signed them, signed (and stored)
// otherwise. It returns how many it put.
func (r *Responder) presign(ctx context.Context, is *issuer, h crypto.Hash, batch []ca.SerialStatus, nt *table) (int, error) {
	var stored map[string]store.SharedOCSP
	if r.cfg.Shared != nil {
		serials := make([]string, len(batch))
		for i, st := range batch {
			serials[i] = ca.FormatSerial(st.Serial)
		}
		found, err := r.cfg.Shared.OCSPResponses(ctx, is.name, hashName(h), serials)
		if err != nil && ctx.Err() == nil {
			// Not fatal: this instance signs them itself.
			r.cfg.Log.Warn("ocsp: reading shared pre-signed responses", "issuer", is.name, "err", err)
		}
		stored = make(map[string]store.SharedOCSP, len(found))
		for _, sh := range found {
			stored[sh.Serial] = sh
		}
	}
	var fresh []store.SharedOCSP
	n := 0
	for _, st := range batch {
		k, ok := keyOf(st.Serial)
		if !ok {
			continue
		}
		if sh, ok := stored[ca.FormatSerial(st.Serial)]; ok && r.reusable(sh, st) {
			// Sent with the responder certificate that signed it; one this
			// instance does not know yet (renewed elsewhere) is signed anew.
			if certs, ok := is.responder.CertsFor(sh.Signed); ok {
				nt.put(k, ca.SignedOCSP{Signed: sh.Signed, ProducedAt: sh.ProducedAt, ThisUpdate: sh.ThisUpdate, NextUpdate: sh.NextUpdate, Certs: certs})
				r.metrics.shared.Inc()
				n++
				continue
			}
		}
		signed, err := is.responder.Sign(ctx, []ca.OCSPSingle{{Hash: h, Serial: st.Serial, Status: st.CertStatus}}, nil, r.cfg.Validity)
		if err != nil {
			return n, err
		}
		nt.put(k, signed)
		r.metrics.presigned.Inc()
		n++
		if r.cfg.Shared != nil {
			fresh = append(fresh, toShared(is.name, h, st, signed))
		}
	}
	r.storeShared(ctx, fresh)
	return n, nil
}

// storeShared hands responses this instance signed to the others. A
// failure costs the others a signature each, nothing more.
func (r *Responder) storeShared(ctx context.Context, rs []store.SharedOCSP) {
	if r.cfg.Shared == nil || len(rs) == 0 {
		return
	}
	if err := r.cfg.Shared.PutOCSPResponses(ctx, rs); err != nil && ctx.Err() == nil {
		r.cfg.Log.Warn("ocsp: storing shared pre-signed responses", "responses", len(rs), "err", err)
	}
}
