package sqlstore

import (
	"context"
	"fmt"

	"github.com/vcc/vccpki/store"
)

// orgIssuers is the condition selecting certificates whose issuer the
// organisation org (bound as placeholder p) owns. The operator owns every
// CA that no other organisation claims.
func orgIssuers(p, org string) string {
	if org == store.OperatorOrg {
		return "issuer NOT IN (SELECT ca_name FROM organisation_cas WHERE org <> " + p + ")"
	}
	return "issuer IN (SELECT ca_name FROM organisation_cas WHERE org = " + p + ")"
}

// CreateOrganisation stores a new organisation and its audit event.
func (s *Store) CreateOrganisation(ctx context.Context, o store.Organisation, ev store.AuditEvent) error {
	at, err := ToNanos("created_at", o.CreatedAt)
	if err != nil {
		return s.errorf("create organisation: %w", err)
	}
	_, err = inTx(ctx, s, func(tx Tx) (struct{}, error) {
		n, err := tx.Exec(ctx, `INSERT INTO organisations (name, display, created_at, created_by) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO NOTHING`, o.Name, o.Display, at, o.CreatedBy)
		if err != nil {
			return struct{}{}, err
		}
		if n == 0 {
			return struct{}{}, fmt.Errorf("organisation %q exists: %w", o.Name, store.ErrConflict)
		}
		return struct{}{}, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return s.errorf("create organisation: %w", err)
	}
	return nil
}

// Organisation returns one organisation with its CAs.
func (s *Store) Organisation(ctx context.Context, name string) (store.Organisation, error) {
	all, err := s.organisations(ctx, name)
	if err != nil {
		return store.Organisation{}, err
	}
	if len(all) == 0 {
		return store.Organisation{}, fmt.Errorf("organisation %q: %w", name, store.ErrNotFound)
	}
	return all[0], nil
}

// Organisations returns every organisation with its CAs, by name.
func (s *Store) Organisations(ctx context.Context) ([]store.Organisation, error) {
	return s.organisations(ctx, "")
}

// organisations reads one organisation (name != "") or all of them.
func (s *Store) organisations(ctx context.Context, name string) ([]store.Organisation, error) {
	q := `SELECT o.name, o.display, o.created_at, o.created_by, COALESCE(c.ca_name, '')
		FROM organisations o LEFT JOIN organisation_cas c ON c.org = o.name`
	var args []any
	if name != "" {
		q += ` WHERE o.name = ?`
		args = append(args, name)
	}
	q += ` ORDER BY o.name, c.ca_name`
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, s.errorf("organisations: %w", err)
	}
	defer rows.Close()
	var out []store.Organisation
	for rows.Next() {
		var (
			o  store.Organisation
			at int64
			ca string
		)
		if err := rows.Scan(&o.Name, &o.Display, &at, &o.CreatedBy, &ca); err != nil {
			return nil, s.errorf("organisations: %w", err)
		}
		if n := len(out); n > 0 && out[n-1].Name == o.Name {
			out[n-1].CAs = append(out[n-1].CAs, ca)
			continue
		}
		o.CreatedAt = FromNanos(at)
		if ca != "" {
			o.CAs = []string{ca}
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf("organisations: %w", err)
	}
	return out, nil
}

// AddOrganisationCA records that org owns the issuing CA named ca.
func (s *Store) AddOrganisationCA(ctx context.Context, org, ca string, ev store.AuditEvent) error {
	_, err := inTx(ctx, s, func(tx Tx) (struct{}, error) {
		if err := claimCA(ctx, tx, org, ca); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, s.appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return s.errorf("add organisation CA: %w", err)
	}
	return nil
}

// CAOrganisation returns the organisation owning an issuing CA.
func (s *Store) CAOrganisation(ctx context.Context, ca string) (string, error) {
	var org string
	err := s.conn.QueryRow(ctx, `SELECT org FROM organisation_cas WHERE ca_name = ?`, ca).Scan(&org)
	if notFound(err) {
		return store.OperatorOrg, nil
	}
	if err != nil {
		return "", s.errorf("CA organisation: %w", err)
	}
	return org, nil
}

// claimCA records in tx that org owns the issuing CA named ca: ErrNotFound
// for an unknown organisation, ErrConflict if another one owns it.
func claimCA(ctx context.Context, tx Tx, org, ca string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM organisations WHERE name = ?`, org).Scan(&one)
	if notFound(err) {
		return fmt.Errorf("organisation %q: %w", org, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO organisation_cas (ca_name, org) VALUES (?, ?)
		ON CONFLICT (ca_name) DO NOTHING`, ca, org); err != nil {
		return err
	}
	var owner string
	if err := tx.QueryRow(ctx, `SELECT org FROM organisation_cas WHERE ca_name = ?`, ca).Scan(&owner); err != nil {
		return err
	}
	if owner != org {
		return fmt.Errorf("CA %q belongs to organisation %q: %w", ca, owner, store.ErrConflict)
	}
	return nil
}
