package postgres

import (
	"context"
	"fmt"

	"github.com/vcc/vccpki/store"
)

var _ store.SharedCRLStore = (*Store)(nil)

// PutCRL implements store.SharedCRLStore: one upsert that only moves to a
// higher CRL number.
func (s *Store) PutCRL(ctx context.Context, c store.SharedCRL) error {
	this, err := sqlstore.ToNanos("thisUpdate", c.ThisUpdate)
	if err != nil {
		return fmt.Errorf("postgres store: put CRL: %w", err)
	}
	next, err := sqlstore.ToNanos("nextUpdate", c.NextUpdate)
	if err != nil {
		return fmt.Errorf("postgres store: put CRL: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO crls (issuer, shard, number, this_update, next_update, entries, from_change, der)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (issuer, shard) DO UPDATE SET number = excluded.number, this_update = excluded.this_update,
			next_update = excluded.next_update, entries = excluded.entries, from_change = excluded.from_change, der = excluded.der
		WHERE excluded.number > crls.number`, c.Issuer, c.Shard, c.Number, this, next, c.Entries, c.FromChange, sqlstore.Blob(c.DER))
	if err != nil {
		return fmt.Errorf("postgres store: put CRL: %w", err)
	}
	return nil
}

// LatestCRL implements store.SharedCRLStore.
func (s *Store) LatestCRL(ctx context.Context, issuer string, shard int) (store.SharedCRL, error) {
	c := store.SharedCRL{Issuer: issuer, Shard: shard}
	var this, next int64
	err := s.pool.QueryRow(ctx, `SELECT number, this_update, next_update, entries, from_change, der FROM crls
		WHERE issuer = $1 AND shard = $2`, issuer, shard).Scan(&c.Number, &this, &next, &c.Entries, &c.FromChange, &c.DER)
	if notFound(err) {
		return store.SharedCRL{}, fmt.Errorf("postgres store: CRL of %s shard %d: %w", issuer, shard, store.ErrNotFound)
	}
	if err != nil {
		return store.SharedCRL{}, fmt.Errorf("postgres store: CRL of %s shard %d: %w", issuer, shard, err)
	}
	c.ThisUpdate, c.NextUpdate = sqlstore.FromNanos(this), sqlstore.FromNanos(next)
	return c, nil
}
