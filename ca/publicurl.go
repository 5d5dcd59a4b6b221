package ca

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/vcc/vccpki/store"
)

// The public URL (the base of the OCSP, CRL and caIssuers URLs written into
// certificates) is a property of the CA, stored with it: if two processes
// signing for one CA wrote different URLs, a certificate would name a CRL
// whose issuing distribution point does not match, and relying parties
// refuse it ("different CRL scope").

// NormalizePublicURL checks that s is an absolute http:// URL and drops
// trailing slashes, so that equal URLs compare equal. https:// is refused:
// OCSP, CRL and caIssuers URLs are fetched over plain HTTP (RFC 5019 §5,
// CA/Browser Forum BR §7.1.2), and the linter refuses every certificate
// that names an https one.
func NormalizePublicURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return "", fmt.Errorf("public URL %q must be an absolute http:// URL (OCSP, CRL and caIssuers URLs are plain HTTP)", s)
	}
	return strings.TrimRight(s, "/"), nil
}

// StoredPublicURL returns the public URL stored with the CA, or "" for a
// store that has none yet.
func StoredPublicURL(ctx context.Context, st store.Store) (string, error) {
	v, err := st.Setting(ctx, store.SettingPublicURL)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return v, err
}

// AdoptPublicURL returns the public URL stored with the CA. A CA without
// one (created before the URL was stored, or just now) adopts proposed and
// records it in the audit log as done by actor. A store without a
// hierarchy stores nothing: proposed is what Bootstrap will use, and the
// caller adopts it once the hierarchy exists, so that a command failing on
// an empty store does not fix the URL.
func AdoptPublicURL(ctx context.Context, st store.Store, proposed, actor string) (string, error) {
	if v, err := StoredPublicURL(ctx, st); err != nil || v != "" {
		return v, err
	}
	pub, err := NormalizePublicURL(proposed)
	if err != nil {
		return "", err
	}
	if cas, err := st.CAs(ctx); err != nil || len(cas) == 0 {
		return pub, err
	}
	return st.AdoptSetting(ctx, store.SettingPublicURL, pub,
		store.AuditEvent{Actor: actor, Action: "ca.public-url.adopt", Object: pub, Result: "ok"})
}

// SetPublicURL changes the public URL stored with the CA, audited as done
// by actor, and returns the previous one. Certificates already issued keep
// the URLs they carry; processes that sign pick the new one up when they
// start.
func SetPublicURL(ctx context.Context, st store.Store, pub, actor string) (string, error) {
	pub, err := NormalizePublicURL(pub)
	if err != nil {
		return "", err
	}
	old, err := StoredPublicURL(ctx, st)
	if err != nil {
		return "", err
	}
	result := "ok: was " + old
	if old == "" {
		result = "ok: none was stored"
	}
	return st.ReplaceSetting(ctx, store.SettingPublicURL, pub,
		store.AuditEvent{Actor: actor, Action: "ca.public-url.set", Object: pub, Result: result})
}

// PublicURL is the base of the URLs this engine writes into certificates.
func (e *Engine) PublicURL() string { return e.cfg.PublicURL }
