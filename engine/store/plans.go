package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// PlanSnapshot is a host's computed plan as opaque JSON bytes, with when it
// was computed and the digest of the baseline it was computed against.
type PlanSnapshot struct {
	HostID         string
	ComputedAt     time.Time
	BaselineDigest string
	Data           []byte
}

// PutPlan replaces the host's plan snapshot. ErrNotFound if the host does
// not exist.
func (s *Store) PutPlan(ctx context.Context, p PlanSnapshot) error {
	if p.HostID == "" || p.Data == nil {
		return fmt.Errorf("put plan: empty host id or nil data: %w", ErrInvalid)
	}
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO plans (host_id, computed_at, baseline_digest, data) VALUES (?, ?, ?, ?)
		ON CONFLICT (host_id) DO UPDATE SET computed_at = excluded.computed_at,
		baseline_digest = excluded.baseline_digest, data = excluded.data`),
		p.HostID, dbTime(p.ComputedAt), p.BaselineDigest, p.Data)
	if isForeignKey(err) {
		return fmt.Errorf("put plan: host %s: %w", p.HostID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("put plan %s: %w", p.HostID, err)
	}
	return nil
}

// Plan returns the host's plan snapshot, or ErrNotFound.
func (s *Store) Plan(ctx context.Context, hostID string) (PlanSnapshot, error) {
	p := PlanSnapshot{HostID: hostID}
	var at int64
	err := s.r.QueryRowContext(ctx, s.q("SELECT computed_at, baseline_digest, data FROM plans WHERE host_id = ?"), hostID).
		Scan(&at, &p.BaselineDigest, &p.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return PlanSnapshot{}, fmt.Errorf("plan %s: %w", hostID, ErrNotFound)
	}
	if err != nil {
		return PlanSnapshot{}, fmt.Errorf("plan %s: %w", hostID, err)
	}
	p.ComputedAt = goTime(at)
	return p, nil
}
