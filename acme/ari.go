package acme

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/vcc/vccpki/store"
)

// ariRetryAfter is how often clients should ask again (RFC 9773 §4.3).
const ariRetryAfter = 6 * time.Hour

// renewalInfo answers GET {renewalInfo}/{certID} (RFC 9773 §4.1) with the
// window the certificate's profile sets; a revoked certificate, or one
// whose issuing CA was revoked (vccpki ca revoke), gets a window in the
// past, meaning "renew now" (RFC 9773 §4.2).
func (s *Server) renewalInfo(w http.ResponseWriter, r *http.Request) {
	info, p := s.lookupCertID(r.Context(), r.PathValue("id"))
	if p != nil {
		writeProblem(w, p)
		return
	}
	prof, ok := s.profiles.Get(info.Profile)
	if !ok {
		writeProblem(w, s.internal("renewal info", errors.New("certificate "+info.Serial+" names an unknown profile "+info.Profile)))
		return
	}
	start, end := prof.RenewalWindow(info.Certificate.NotBefore, info.Certificate.NotAfter)
	// A certificate of a retired CA generation (vccpki ca rollover) is
	// renewed at once too: a window in the past, as a client picks a
	// random time inside the window and renews only once it has passed.
	if !info.RevokedAt.IsZero() || !info.IssuerRevokedAt.IsZero() || !info.IssuerRetiredAt.IsZero() {
		now := s.cfg.Now()
		start, end = now.Add(-2*time.Hour), now.Add(-time.Hour)
	}
	body, _ := json.Marshal(map[string]any{"suggestedWindow": map[string]string{
		"start": start.UTC().Format(time.RFC3339), "end": end.UTC().Format(time.RFC3339),
	}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", strconv.Itoa(int(ariRetryAfter.Seconds())))
	w.Write(body)
}

// checkReplaces checks an order's "replaces" (RFC 9773 §5): the
// certificate exists, was ordered by this account and shares an
// identifier with the new order. It returns the certificate's serial.
func (s *Server) checkReplaces(ctx context.Context, q *request, certID string, ids []identifier) (string, *problem) {
	info, p := s.lookupCertID(ctx, certID)
	if p != nil {
		p.Detail = "replaces: " + p.Detail
		return "", p
	}
	rec, err := s.store.ACMECertificate(ctx, info.Serial)
	if errors.Is(err, store.ErrNotFound) || (err == nil && rec.AccountID != q.account.ID) {
		return "", unauthorized("replaces: certificate %s was not ordered by this account", info.Serial)
	}
	if err != nil {
		return "", s.internal("replaces", err)
	}
	if rec.ReplacedBy != "" {
		return "", newProblem(probAlreadyReplaced, http.StatusConflict, "certificate %s was already replaced by order %s", info.Serial, q.orderURL(rec.ReplacedBy))
	}
	old := make([]identifier, 0, len(info.Certificate.DNSNames)+len(info.Certificate.IPAddresses))
	for _, n := range info.Certificate.DNSNames {
		old = append(old, identifier{"dns", n})
	}
	for _, ip := range info.Certificate.IPAddresses {
		old = append(old, identifier{"ip", ip.String()})
	}
	for _, id := range ids {
		if slices.Contains(old, id) {
			return info.Serial, nil
		}
	}
	return "", malformed("replaces: the new order shares no identifier with certificate %s", info.Serial)
}
