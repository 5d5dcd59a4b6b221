package postgres

import (
	"context"
	"fmt"

	"github.com/vcc/vccpki/store"
	"github.com/vcc/vccpki/store/sqlstore"
)

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
