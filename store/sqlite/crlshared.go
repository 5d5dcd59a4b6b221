package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/vcc/vccpki/store"
)

var _ store.SharedCRLStore = (*Store)(nil)

// PutCRL implements store.SharedCRLStore.
func (s *Store) PutCRL(ctx context.Context, c store.SharedCRL) error {
	this, err := toNanos("thisUpdate", c.ThisUpdate)
	if err != nil {
		return fmt.Errorf("sqlite store: put CRL: %w", err)
	}
	next, err := toNanos("nextUpdate", c.NextUpdate)
	if err != nil {
		return fmt.Errorf("sqlite store: put CRL: %w", err)
	}
	_, err = withTx(ctx, s, func(tx *cachedTx) (struct{}, error) {
		_, err := tx.ExecContext(ctx, `INSERT INTO crls (issuer, shard, number, this_update, next_update, entries, from_change, der)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (issuer, shard) DO UPDATE SET number = excluded.number, this_update = excluded.this_update,
				next_update = excluded.next_update, entries = excluded.entries, from_change = excluded.from_change, der = excluded.der
			WHERE excluded.number > crls.number`, c.Issuer, c.Shard, c.Number, this, next, c.Entries, c.FromChange, blob(c.DER))
		return struct{}{}, err
	})
	if err != nil {
		return fmt.Errorf("sqlite store: put CRL: %w", err)
	}
	return nil
}

// LatestCRL implements store.SharedCRLStore.
func (s *Store) LatestCRL(ctx context.Context, issuer string, shard int) (store.SharedCRL, error) {
	c := store.SharedCRL{Issuer: issuer, Shard: shard}
	var this, next int64
	err := s.q.QueryRowContext(ctx, `SELECT number, this_update, next_update, entries, from_change, der FROM crls
		WHERE issuer = ? AND shard = ?`, issuer, shard).Scan(&c.Number, &this, &next, &c.Entries, &c.FromChange, &c.DER)
	if errors.Is(err, sql.ErrNoRows) {
		return store.SharedCRL{}, fmt.Errorf("sqlite store: CRL of %s shard %d: %w", issuer, shard, store.ErrNotFound)
	}
	if err != nil {
		return store.SharedCRL{}, fmt.Errorf("sqlite store: CRL of %s shard %d: %w", issuer, shard, err)
	}
	c.ThisUpdate, c.NextUpdate = fromNanos(this), fromNanos(next)
	return c, nil
}
