package store

import (
	"context"
	"database/sql"
	"fmt"
)

// MarkDelivery records a webhook delivery id (GitHub's X-GitHub-Delivery)
// and reports whether this is the first time it is seen: one
// INSERT ... ON CONFLICT DO NOTHING, so concurrent deliveries of the same id
// get exactly one firstTime. Ids older than Options.DeliveryRetention are
// pruned in the same transaction.
func (s *Store) MarkDelivery(ctx context.Context, id string) (firstTime bool, err error) {
	if id == "" {
		return false, fmt.Errorf("mark delivery: empty id: %w", ErrInvalid)
	}
	now := s.now()
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM deliveries WHERE seen_at < ?"), dbTime(now.Add(-s.opts.DeliveryRetention))); err != nil {
			return fmt.Errorf("mark delivery: prune: %w", err)
		}
		res, err := tx.ExecContext(ctx, s.q("INSERT INTO deliveries (id, seen_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING"), id, dbTime(now))
		if err != nil {
			return fmt.Errorf("mark delivery %s: %w", id, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("mark delivery %s: %w", id, err)
		}
		firstTime = n == 1
		return nil
	})
	return firstTime, err
}

// DeliverySeen reports whether MarkDelivery recorded id (and it was not
// pruned yet). The webhook asks before processing and marks only after
// processing succeeded, so a delivery that failed is processed again when
// GitHub redelivers it.
func (s *Store) DeliverySeen(ctx context.Context, id string) (bool, error) {
	if id == "" {
		return false, fmt.Errorf("delivery seen: empty id: %w", ErrInvalid)
	}
	var n int
	err := s.r.QueryRowContext(ctx, s.q("SELECT COUNT(*) FROM deliveries WHERE id = ? AND seen_at >= ?"), id, dbTime(s.now().Add(-s.opts.DeliveryRetention))).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("delivery seen %s: %w", id, err)
	}
	return n > 0, nil
}
