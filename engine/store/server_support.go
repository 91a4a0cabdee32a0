package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// CheckEnrollmentToken reports whether token is a usable enrollment token
// (known, not expired, not used up) without using it: the server checks it
// before reading an enrollment request's body. ErrTokenInvalid if not.
func (s *Store) CheckEnrollmentToken(ctx context.Context, token string) error {
	var exp int64
	var uses, max int
	err := s.r.QueryRowContext(ctx, s.q("SELECT expires_at, uses, max_uses FROM enrollment_tokens WHERE token_hash = ?"),
		HashToken(token)).Scan(&exp, &uses, &max)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("enrollment token unknown: %w", ErrTokenInvalid)
	case err != nil:
		return fmt.Errorf("check enrollment token: %w", err)
	case uses >= max:
		return fmt.Errorf("enrollment token used up (%d of %d): %w", uses, max, ErrTokenInvalid)
	case exp <= dbTime(s.now()):
		return fmt.Errorf("enrollment token expired: %w", ErrTokenInvalid)
	}
	return nil
}

// PutPlans replaces the plan snapshots of several hosts in one
// transaction (one commit instead of one per host). Snapshots of hosts that
// no longer exist are skipped; it returns how many were written.
func (s *Store) PutPlans(ctx context.Context, ps []PlanSnapshot) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, s.q(`INSERT INTO plans (host_id, computed_at, baseline_digest, data)
			SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM hosts WHERE id = ?)
			ON CONFLICT (host_id) DO UPDATE SET computed_at = excluded.computed_at,
			baseline_digest = excluded.baseline_digest, data = excluded.data`))
		if err != nil {
			return fmt.Errorf("put plans: %w", err)
		}
		defer st.Close()
		for _, p := range ps {
			if p.HostID == "" || p.Data == nil {
				return fmt.Errorf("put plans: empty host id or nil data: %w", ErrInvalid)
			}
			res, err := st.ExecContext(ctx, p.HostID, dbTime(p.ComputedAt), p.BaselineDigest, p.Data, p.HostID)
			if err != nil {
				return fmt.Errorf("put plans %s: %w", p.HostID, err)
			}
			if k, _ := res.RowsAffected(); k > 0 {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// SetHostRings sets the ring of several hosts in one transaction (the
// server learns a host's ring from its plan, after the report). Hosts that
// no longer exist are skipped.
func (s *Store) SetHostRings(ctx context.Context, rings map[string]string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, s.q("UPDATE hosts SET ring = ? WHERE id = ?"))
		if err != nil {
			return fmt.Errorf("set host rings: %w", err)
		}
		defer st.Close()
		// In the order of the ids, as SaveReport's group commit locks hosts
		// on PostgreSQL: two transactions locking the same hosts in
		// different orders could each wait for the other.
		for _, id := range slices.Sorted(maps.Keys(rings)) {
			if _, err := st.ExecContext(ctx, rings[id], id); err != nil {
				return fmt.Errorf("set host ring %s: %w", id, err)
			}
		}
		return nil
	})
}
