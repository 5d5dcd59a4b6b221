package ocsp

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vcc/vccpki/ca"
)

// CAs created and revoked while the responder runs. The engine numbers
// the changes of its hierarchy (a CA created or revoked through it, or
// one another process wrote, once its Refresh has read the store); the
// responder follows that number: a new issuing CA gets its OCSP answers
// and its CRLs, and a revoked CA's parent rebuilds its CRL at once.

// casSeen is what the responder has acted on.
type casSeen struct {
	gen     uint64
	revoked map[string]bool // the CAs whose revocation marked their parent's CRL
}

// issuerList returns the issuing CAs answered for now.
func (r *Responder) issuerList() []*issuer {
	if l := r.issuers.Load(); l != nil {
		return *l
	}
	return nil
}

// syncCAs takes up the CAs the engine added and revoked since the last
// call. At start (initial) every responder must be there; later a CA
// without one is logged and tried again at the next change.
func (r *Responder) syncCAs(ctx context.Context, initial bool) error {
	r.casMu.Lock()
	defer r.casMu.Unlock()
	gen, _ := r.e.CAChanges()
	if !initial && gen == r.cas.gen {
		return nil
	}
	r.cas.gen = gen
	cur := r.issuerList()
	next := slices.Clone(cur)
	var need int64
	if !initial {
		r.follow.Lock()
		need = r.cursor
		r.follow.Unlock()
	}
	var firstErr error
	for _, name := range r.e.IssuingCAs() {
		if slices.ContainsFunc(cur, func(is *issuer) bool { return is.name == name }) {
			continue
		}
		resp, err := r.e.OCSPResponder(name)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		is := newIssuer(name, resp)
		built := r.cfg.Now()
		if !initial {
			// Due at once: refreshDue pre-signs it at its next check.
			built = time.Time{}
		}
		for _, h := range supportedHashes {
			// Until the first build, an empty table: answers come live.
			is.tables[h].Store(newTable(built, 0))
		}
		next = append(next, is)
		if r.crls.addIssuer(name, need) && !initial {
			r.cfg.Log.Info("ocsp: serving a new CA", "issuer", name)
		}
	}
	r.issuers.Store(&next)
	for _, rc := range r.e.RevokedCAs() {
		if r.cas.revoked[rc.Name] {
			continue
		}
		r.cas.revoked[rc.Name] = true
		if !initial {
			// Its certificate goes on its parent's full CRL (ca.BuildCRL).
			r.crls.rebuildNow(rc.Parent)
			r.resignCA(ctx, rc)
			r.cfg.Log.Info("ocsp: a CA was revoked; rebuilding its parent's CRL", "ca", rc.Name, "parent", rc.Parent)
		}
	}
	if firstErr != nil {
		r.cas.gen = 0 // try again at the next change
		return fmt.Errorf("ocsp: %w", firstErr)
	}
	return nil
}

// followCAs calls syncCAs at every change of the engine's hierarchy.
func (r *Responder) followCAs(ctx context.Context) {
	for {
		_, changed := r.e.CAChanges()
		if err := r.syncCAs(ctx, false); err != nil && ctx.Err() == nil {
			r.cfg.Log.Error("ocsp: taking up a new CA", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// resignCA writes the revoked status of a CA certificate into its
// parent's tables, over any good answer kept there from a live request.
// A CA revocation is not in the change feed, so this is its only way in.
func (r *Responder) resignCA(ctx context.Context, rc ca.RevokedCA) {
	i := slices.IndexFunc(r.issuerList(), func(is *issuer) bool { return is.name == rc.Parent })
	if i < 0 {
		return // the root: its CRL (an ARL) is the only word on it
	}
	is := r.issuerList()[i]
	st, err := r.e.StatusOf(ctx, rc.Parent, rc.Serial)
	if err != nil || st.Status != ca.Revoked {
		// Never keep a stale answer: drop it and answer live.
		if k, ok := keyOf(rc.Serial); ok {
			for _, h := range supportedHashes {
				is.table(h).remove(k)
			}
		}
		return
	}
	r.follow.Lock()
	defer r.follow.Unlock()
	for _, h := range supportedHashes {
		r.applyTo(ctx, is, h, is.table(h), ca.SerialStatus{Issuer: rc.Parent, Serial: rc.Serial, CertStatus: st})
	}
}
