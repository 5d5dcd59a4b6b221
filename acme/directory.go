package acme

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/vcc/vccpki/ca/profile"
)

type directoryMeta struct {
	TermsOfService          string            `json:"termsOfService,omitempty"`
	Website                 string            `json:"website,omitempty"`
	CAAIdentities           []string          `json:"caaIdentities,omitempty"`
	ExternalAccountRequired bool              `json:"externalAccountRequired"`
	Profiles                map[string]string `json:"profiles,omitempty"`
}

// directory serves the directory object (RFC 8555 §7.1.1), with
// renewalInfo (RFC 9773 §3) and the profiles the ACME front end may issue
// from (the ACME profiles draft) in meta.
func (s *Server) directory(w http.ResponseWriter, r *http.Request) {
	b := s.base(r) + orgPath(r.Context(), "/acme")
	profiles := map[string]string{}
	for _, p := range s.profiles.Of(orgOf(r.Context())) {
		if p.AllowsProtocol(profile.ProtocolACME) {
			profiles[p.Name] = p.Description
		}
	}
	dir := map[string]any{
		"newNonce":    b + strings.TrimPrefix(pathNewNonce, "/acme"),
		"newAccount":  b + strings.TrimPrefix(pathNewAccount, "/acme"),
		"newOrder":    b + strings.TrimPrefix(pathNewOrder, "/acme"),
		"revokeCert":  b + strings.TrimPrefix(pathRevokeCert, "/acme"),
		"keyChange":   b + strings.TrimPrefix(pathKeyChange, "/acme"),
		"renewalInfo": b + strings.TrimPrefix(pathRenewalInfo, "/acme"),
		"meta": directoryMeta{
			TermsOfService: s.cfg.TermsOfService, Website: s.cfg.Website, CAAIdentities: s.cfg.CAAIdentities,
			ExternalAccountRequired: s.cfg.ExternalAccountRequired, Profiles: profiles,
		},
	}
	out, _ := json.MarshalIndent(dir, "", "  ")
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

// newNonce answers HEAD with 200 and GET with 204 (RFC 8555 §7.2); the
// nonce itself is added to every response by Handler.
func (s *Server) newNonce(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.WriteHeader(http.StatusOK)
}
