package est

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/vcc/vccpki/ca"
	"github.com/vcc/vccpki/ca/profile"
	"github.com/vcc/vccpki/store"
)

// What the operator commands (vccpki est user, est grant) check and store.

// maxGrantNames bounds one grant: it widens one certificate, not a fleet.
const maxGrantNames = 100

// GrantNames reads the names of a grant (vccpki est grant --names): each
// a DNS name or IP address the profile admits, canonical, without repeats.
func GrantNames(p *profile.Profile, list string) ([]string, error) {
	var out []string
	for n := range strings.SplitSeq(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		id := GrantIdentifier(n)
		if id.Type == ca.IP {
			if err := p.CheckIP(netip.MustParseAddr(id.Value)); err != nil {
				return nil, fmt.Errorf("--names: %v", err)
			}
		} else if err := p.CheckDNSName(id.Value); err != nil {
			return nil, fmt.Errorf("--names: %v", err)
		}
		if !slices.Contains(out, id.Value) {
			out = append(out, id.Value)
		}
	}
	if len(out) == 0 || len(out) > maxGrantNames {
		return nil, fmt.Errorf("--names needs 1 to %d names", maxGrantNames)
	}
	return out, nil
}

// CheckUserName refuses a Basic user name that cannot be sent (RFC 7617
// §2: no colon) or read back in a log.
func CheckUserName(u string) error {
	if len(u) > 128 {
		return errors.New("--user is longer than 128 characters")
	}
	if strings.ContainsRune(u, ':') || strings.ContainsFunc(u, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
		return fmt.Errorf("--user %q must not contain a colon, spaces or control characters", u)
	}
	return nil
}

// AddUser stores the argon2id hash of password for user, bound to
// service (of organisation org, "" the operator), with its audit entry. A
// user that exists is store.ErrConflict.
func AddUser(ctx context.Context, users store.ESTStore, org, service, user, password, actor string, now time.Time) error {
	hash, err := HashPassword(password, DefaultHashParams)
	if err != nil {
		return err
	}
	ev := store.AuditEvent{Time: now.UTC(), Actor: actor, Action: "est.user.add", Object: "user " + user, Result: "ok: service " + service, Org: org}
	return users.AddESTUser(ctx, store.ESTUser{User: user, Service: service, Hash: hash, CreatedAt: ev.Time, Org: org}, ev)
}
