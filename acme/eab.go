package acme

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/vcc/vccpki/store"
)

// CreateEABKey makes an external account binding key for a service (a
// profile name; "" binds to none) and stores it sealed (SecretBox),
// audited. It returns the key ID and the HMAC key in base64url, the form
// clients take (certbot --eab-hmac-key, lego --hmac). The key is shown
// once: it is the operator's to hand to the service. org owns the key
// ("" is the operator): the organisation of the service's profile.
func CreateEABKey(ctx context.Context, st store.ACMEStore, org, service, actor string, now time.Time) (string, string, error) {
	box, err := OpenSecretBox(ctx, st, nil)
	if err != nil {
		return "", "", err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", "", err
	}
	kid := "kid-" + newID[string]()
	sealed, err := box.Seal(kid, key)
	if err != nil {
		return "", "", err
	}
	ev := store.AuditEvent{Time: now.UTC(), Actor: actor, Action: "acme.eab.create", Object: kid, Result: "ok: service " + orNone(service), Org: org}
	if err := st.CreateEABKey(ctx, store.EABKey{KeyID: kid, HMAC: sealed, Service: service, CreatedAt: now.UTC(), Org: org}, ev); err != nil {
		return "", "", err
	}
	return kid, b64.EncodeToString(key), nil
}
