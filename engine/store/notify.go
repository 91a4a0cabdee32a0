package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Delivery statuses of the notification log.
const (
	NotifyPending   = "pending"
	NotifyDelivered = "delivered"
	NotifyFailed    = "failed"
)

// NotifyDelivery is one row of the notification delivery log: one event
// to one channel (a webhook or an e-mail route).
type NotifyDelivery struct {
	EventKey  string
	Channel   string
	Kind      string
	Status    string
	Attempts  int
	LastError string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ClaimNotify records that the event is about to be delivered to channel.
// It returns false when the event was already delivered (or given up on)
// for that channel, so each event reaches each channel once; a pending row
// left by a crash is claimed again.
func (s *Store) ClaimNotify(ctx context.Context, key, channel, kind string) (bool, error) {
	now := dbTime(s.now())
	var status string
	err := s.w.QueryRowContext(ctx, s.q("SELECT status FROM notify_log WHERE event_key = ? AND channel = ?"), key, channel).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = s.w.ExecContext(ctx, s.q(`INSERT INTO notify_log (event_key, channel, kind, status, attempts, last_error, created_at, updated_at)
			VALUES (?, ?, ?, ?, 0, '', ?, ?) ON CONFLICT (event_key, channel) DO NOTHING`), key, channel, kind, NotifyPending, now, now)
		if err != nil {
			return false, fmt.Errorf("claim notification: %w", err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("claim notification: %w", err)
	}
	return status == NotifyPending, nil
}

// FinishNotify records the outcome of a delivery.
func (s *Store) FinishNotify(ctx context.Context, key, channel, status string, attempts int, lastErr string) error {
	if len(lastErr) > 1000 {
		lastErr = lastErr[:1000]
	}
	_, err := s.w.ExecContext(ctx, s.q(`UPDATE notify_log SET status = ?, attempts = ?, last_error = ?, updated_at = ? WHERE event_key = ? AND channel = ?`),
		status, attempts, lastErr, dbTime(s.now()), key, channel)
	if err != nil {
		return fmt.Errorf("finish notification: %w", err)
	}
	return nil
}

// NotifyLog returns the latest limit deliveries, newest first.
func (s *Store) NotifyLog(ctx context.Context, limit int) ([]NotifyDelivery, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.r.QueryContext(ctx, fmt.Sprintf(`SELECT event_key, channel, kind, status, attempts, last_error, created_at, updated_at
		FROM notify_log ORDER BY created_at DESC, event_key, channel LIMIT %d`, limit))
	if err != nil {
		return nil, fmt.Errorf("notify log: %w", err)
	}
	defer rows.Close()
	var out []NotifyDelivery
	for rows.Next() {
		var d NotifyDelivery
		var c, u int64
		if err := rows.Scan(&d.EventKey, &d.Channel, &d.Kind, &d.Status, &d.Attempts, &d.LastError, &c, &u); err != nil {
			return nil, fmt.Errorf("notify log: %w", err)
		}
		d.CreatedAt, d.UpdatedAt = goTime(c), goTime(u)
		out = append(out, d)
	}
	return out, rows.Err()
}
