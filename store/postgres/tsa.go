package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vcc/vccpki/store"
)

const (
	tokenColumns   = `serial, gen_time, hash, imprint, policy`
	insertTokenSQL = `INSERT INTO timestamp_tokens (` + tokenColumns + `) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (serial) DO NOTHING`
)

// ReserveTimestampSerials reserves n consecutive serials with one upsert
// of the counter row; its row lock queues concurrent instances, and the
// reservation is committed (durable) before it returns.
func (s *Store) ReserveTimestampSerials(ctx context.Context, n int64) (int64, error) {
	if n <= 0 || n > 1<<40 {
		return 0, fmt.Errorf("postgres store: reserve %d time-stamp serials: need 1 to 2^40", n)
	}
	var next int64
	err := s.pool.QueryRow(ctx, `INSERT INTO timestamp_serials (id, next) VALUES (1, 1 + $1::BIGINT)
		ON CONFLICT (id) DO UPDATE SET next = timestamp_serials.next + $1::BIGINT
		RETURNING next`, n).Scan(&next)
	if err != nil {
		return 0, fmt.Errorf("postgres store: reserve time-stamp serials: %w", err)
	}
	return next - n, nil
}

// RecordTimestamp stores one token record through the group committer.
func (s *Store) RecordTimestamp(ctx context.Context, r store.TimestampRecord) error {
	args, err := sqlstore.TokenArgs(r)
	if err == nil {
		err = s.submit(ctx, &writeReq{token: args})
	}
	if err != nil {
		return fmt.Errorf("postgres store: record time-stamp %d: %w", r.Serial, err)
	}
	return nil
}

// TimestampBySerial returns the record of a serial.
func (s *Store) TimestampBySerial(ctx context.Context, serial int64) (store.TimestampRecord, error) {
	r, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM timestamp_tokens WHERE serial = $1`, serial))
	if notFound(err) {
		return r, fmt.Errorf("postgres store: time-stamp %d: %w", serial, store.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("postgres store: time-stamp %d: %w", serial, err)
	}
	return r, nil
}

// TimestampsByImprint returns every record of a hashed message, oldest first.
func (s *Store) TimestampsByImprint(ctx context.Context, imprint []byte) ([]store.TimestampRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM timestamp_tokens WHERE imprint = $1 ORDER BY serial`, sqlstore.Blob(imprint))
	if err != nil {
		return nil, fmt.Errorf("postgres store: time-stamps by imprint: %w", err)
	}
	defer rows.Close()
	var out []store.TimestampRecord
	for rows.Next() {
		r, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres store: time-stamps by imprint: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func scanToken(row pgx.Row) (store.TimestampRecord, error) {
	var (
		r  store.TimestampRecord
		at int64
	)
	if err := row.Scan(&r.Serial, &at, &r.Hash, &r.Imprint, &r.Policy); err != nil {
		return r, err
	}
	r.Time = sqlstore.FromNanos(at)
	return r, nil
}
