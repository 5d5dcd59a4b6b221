package sqlstore

import (
	"context"

	"github.com/vcc/vccpki/store"
)

var _ store.SharedCRLStore = (*Store)(nil)

// PutCRL implements store.SharedCRLStore: one upsert that only moves to a
// higher CRL number.
func (s *Store) PutCRL(ctx context.Context, c store.SharedCRL) error {
	this, err := ToNanos("thisUpdate", c.ThisUpdate)
	if err != nil {
		return s.errorf("put CRL: %w", err)
	}
	next, err := ToNanos("nextUpdate", c.NextUpdate)
	if err != nil {
		return s.errorf("put CRL: %w", err)
	}
	_, err = s.exec(ctx, `INSERT INTO crls (issuer, shard, number, this_update, next_update, entries, from_change, der)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (issuer, shard) DO UPDATE SET number = excluded.number, this_update = excluded.this_update,
			next_update = excluded.next_update, entries = excluded.entries, from_change = excluded.from_change, der = excluded.der
		WHERE excluded.number > crls.number`, c.Issuer, c.Shard, c.Number, this, next, c.Entries, c.FromChange, Blob(c.DER))
	if err != nil {
		return s.errorf("put CRL: %w", err)
	}
	return nil
}

// LatestCRL implements store.SharedCRLStore.
func (s *Store) LatestCRL(ctx context.Context, issuer string, shard int) (store.SharedCRL, error) {
	c := store.SharedCRL{Issuer: issuer, Shard: shard}
	var this, next int64
	err := s.conn.QueryRow(ctx, `SELECT number, this_update, next_update, entries, from_change, der FROM crls
		WHERE issuer = ? AND shard = ?`, issuer, shard).Scan(&c.Number, &this, &next, &c.Entries, &c.FromChange, &c.DER)
	if notFound(err) {
		return store.SharedCRL{}, s.errorf("CRL of %s shard %d: %w", issuer, shard, store.ErrNotFound)
	}
	if err != nil {
		return store.SharedCRL{}, s.errorf("CRL of %s shard %d: %w", issuer, shard, err)
	}
	c.ThisUpdate, c.NextUpdate = FromNanos(this), FromNanos(next)
	return c, nil
}
