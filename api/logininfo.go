package api

import "net/http"

// LoginInfo tells the remote CLI (vccpki login) which OpenID provider the
// API trusts and which client and audience to ask a token for. It names
// no secret, so it is served without authentication.
type LoginInfo struct {
	Issuer   string `json:"issuer"`
	ClientID string `json:"client_id"`
	Audience string `json:"audience"`
}

// loginInfo: GET /login-info (no authentication); 404 when the API takes
// no OIDC tokens.
func (s *Server) loginInfo(c *call) error {
	li := s.cfg.LoginInfo
	if li == nil || li.Issuer == "" {
		return problem(http.StatusNotFound, ProbNotFound, "this server takes no OIDC tokens (api.auth.oidc); call it with an Admin CA client certificate")
	}
	return c.reply(http.StatusOK, li)
}
