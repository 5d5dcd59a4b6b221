// Package org holds the rules of organisations (tenants): creating one,
// giving it an issuing CA, and reading them. The operator organisation
// (store.OperatorOrg, "vcc") exists from the first migration and owns
// everything no partner claims. The CLI (vccpki org ...) and the API
// (/api/v1/organisations) both call this package; every change is audited
// in the store's transaction.
package org

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vcc/vccpki/store"
)

// ErrInvalid wraps a refused argument (a malformed name, an unknown CA);
// callers answer it as a bad request.
var ErrInvalid = errors.New("invalid")

// maxDisplay bounds a display name.
const maxDisplay = 200

// Store is what this package needs of the store.
type Store interface {
	store.OrgStore
	CAs(ctx context.Context) ([]store.CARecord, error)
}

// CheckName refuses a malformed organisation name.
func CheckName(name string) error {
	if !store.ValidOrgName(name) {
		return fmt.Errorf("%w: organisation name %q must be a lowercase DNS label (a-z, 0-9 and inner hyphens, at most 63 characters), e.g. brandenburg", ErrInvalid, name)
	}
	return nil
}

// Create makes a new organisation; actor is who asked, for the audit log.
// store.ErrConflict if the name exists.
func Create(ctx context.Context, st Store, name, display, actor string, now time.Time) (store.Organisation, error) {
	if err := CheckName(name); err != nil {
		return store.Organisation{}, err
	}
	display = strings.TrimSpace(display)
	switch {
	case display == "":
		return store.Organisation{}, fmt.Errorf("%w: the display name is required", ErrInvalid)
	case utf8.RuneCountInString(display) > maxDisplay || !utf8.ValidString(display):
		return store.Organisation{}, fmt.Errorf("%w: the display name must be valid UTF-8 of at most %d characters", ErrInvalid, maxDisplay)
	case strings.ContainsFunc(display, unicode.IsControl):
		return store.Organisation{}, fmt.Errorf("%w: the display name must be one line without control characters", ErrInvalid)
	}
	o := store.Organisation{Name: name, Display: display, CreatedAt: now.UTC(), CreatedBy: actor}
	ev := store.AuditEvent{Time: o.CreatedAt, Actor: actor, Action: "org.create", Object: name, Result: "ok: " + display, Org: name}
	if err := st.CreateOrganisation(ctx, o, ev); err != nil {
		return store.Organisation{}, err
	}
	return o, nil
}

// AddCA gives the organisation org the issuing CA named ca, which must be
// an issuing CA (an intermediate) of the hierarchy. store.ErrNotFound for
// an unknown organisation or CA, store.ErrConflict if another organisation
// owns the CA.
func AddCA(ctx context.Context, st Store, org, ca, actor string, now time.Time) error {
	if err := CheckName(org); err != nil {
		return err
	}
	recs, err := st.CAs(ctx)
	if err != nil {
		return err
	}
	found := false
	for _, r := range recs {
		if r.Name == ca {
			if r.Role != "intermediate" {
				return fmt.Errorf("%w: %s is a %s certificate, not an issuing CA", ErrInvalid, ca, r.Role)
			}
			found = true
		}
	}
	if !found {
		return fmt.Errorf("%w: no issuing CA %q in the hierarchy (vccpki ca create makes one)", store.ErrNotFound, ca)
	}
	ev := store.AuditEvent{Time: now.UTC(), Actor: actor, Action: "org.add-ca", Object: org + " " + ca, Result: "ok", Org: org}
	return st.AddOrganisationCA(ctx, org, ca, ev)
}

// List returns every organisation, by name.
func List(ctx context.Context, st Store) ([]store.Organisation, error) {
	return st.Organisations(ctx)
}

// Show returns one organisation; store.ErrNotFound if there is none.
func Show(ctx context.Context, st Store, name string) (store.Organisation, error) {
	if err := CheckName(name); err != nil {
		return store.Organisation{}, err
	}
	return st.Organisation(ctx, name)
}
