package sqlstore

import (
	"context"

	"github.com/vcc/vccpki/store"
)

const (
	tokenColumns   = `serial, gen_time, hash, imprint, policy`
	InsertTokenSQL = `INSERT INTO timestamp_tokens (` + tokenColumns + `) VALUES (?, ?, ?, ?, ?) ON CONFLICT (serial) DO NOTHING`
)

// ReserveTimestampSerials reserves n consecutive serials with one upsert
// of the counter row; its row lock queues concurrent instances, and the
// reservation is committed (durable) before it returns.
func (s *Store) ReserveTimestampSerials(ctx context.Context, n int64) (int64, error) {
	if n <= 0 || n > 1<<40 {
		return 0, s.errorf("reserve %d time-stamp serials: need 1 to 2^40", n)
	}
	// In a write transaction: on SQLite that queues behind this process's
	// writers instead of polling SQLite's busy handler.
	next, err := inTx(ctx, s, func(tx Tx) (int64, error) {
		var next int64
		err := tx.QueryRow(ctx, `INSERT INTO timestamp_serials (id, next) VALUES (1, 1 + CAST(? AS BIGINT))
			ON CONFLICT (id) DO UPDATE SET next = timestamp_serials.next + CAST(? AS BIGINT)
			RETURNING next`, n, n).Scan(&next)
		return next, err
	})
	if err != nil {
		return 0, s.errorf("reserve time-stamp serials: %w", err)
	}
	return next - n, nil
}

// TimestampBySerial returns the record of a serial.
func (s *Store) TimestampBySerial(ctx context.Context, serial int64) (store.TimestampRecord, error) {
	r, err := scanToken(s.conn.QueryRow(ctx, `SELECT `+tokenColumns+` FROM timestamp_tokens WHERE serial = ?`, serial))
	if notFound(err) {
		return r, s.errorf("time-stamp %d: %w", serial, store.ErrNotFound)
	}
	if err != nil {
		return r, s.errorf("time-stamp %d: %w", serial, err)
	}
	return r, nil
}

// TimestampsByImprint returns every record of a hashed message, oldest first.
func (s *Store) TimestampsByImprint(ctx context.Context, imprint []byte) ([]store.TimestampRecord, error) {
	rows, err := s.conn.Query(ctx, `SELECT `+tokenColumns+` FROM timestamp_tokens WHERE imprint = ? ORDER BY serial`, Blob(imprint))
	if err != nil {
		return nil, s.errorf("time-stamps by imprint: %w", err)
	}
	defer rows.Close()
	var out []store.TimestampRecord
	for rows.Next() {
		r, err := scanToken(rows)
		if err != nil {
			return nil, s.errorf("time-stamps by imprint: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func scanToken(row Row) (store.TimestampRecord, error) {
	var (
		r  store.TimestampRecord
		at int64
	)
	if err := row.Scan(&r.Serial, &at, &r.Hash, &r.Imprint, &r.Policy); err != nil {
		return r, err
	}
	r.Time = FromNanos(at)
	return r, nil
}
