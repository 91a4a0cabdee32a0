package store

import (
	"context"
	"fmt"
)

// RecentRolloutEvents lists the latest limit rollout events of every
// rollout, newest first: the dashboard's audit trail.
func (s *Store) RecentRolloutEvents(ctx context.Context, limit int) ([]RolloutEvent, error) {
	if limit <= 0 {
		limit = 500
	}
	rows, err := s.r.QueryContext(ctx, s.q(fmt.Sprintf("SELECT "+eventColumns+" FROM rollout_events ORDER BY id DESC LIMIT %d", limit)))
	if err != nil {
		return nil, fmt.Errorf("recent rollout events: %w", err)
	}
	defer rows.Close()
	var out []RolloutEvent
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("recent rollout events: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// HostSteps lists the steps recorded for a host, oldest first.
func (s *Store) HostSteps(ctx context.Context, hostID string) ([]StepResult, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT host_id, baseline_digest, action, rollout_id, status, detail, recorded_at
		FROM rollout_steps WHERE host_id = ? ORDER BY recorded_at, action`), hostID)
	if err != nil {
		return nil, fmt.Errorf("host steps %s: %w", hostID, err)
	}
	defer rows.Close()
	var out []StepResult
	for rows.Next() {
		var r StepResult
		var at int64
		if err := rows.Scan(&r.Key.HostID, &r.Key.BaselineDigest, &r.Key.Action, &r.RolloutID, &r.Status, &r.Detail, &at); err != nil {
			return nil, fmt.Errorf("host steps %s: %w", hostID, err)
		}
		r.RecordedAt = goTime(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// HostRollouts lists the rollouts a host took part in (rollout_hosts),
// newest first, with the host's state and times in each.
func (s *Store) HostRollouts(ctx context.Context, hostID string) ([]RolloutHost, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT rollout_id, host_id, seq, actions, wave, state, started_at, finished_at
		FROM rollout_hosts WHERE host_id = ? ORDER BY started_at DESC, rollout_id`), hostID)
	if err != nil {
		return nil, fmt.Errorf("host rollouts %s: %w", hostID, err)
	}
	defer rows.Close()
	var out []RolloutHost
	for rows.Next() {
		var h RolloutHost
		var st, fin int64
		if err := rows.Scan(&h.RolloutID, &h.HostID, &h.Seq, &h.Actions, &h.Wave, &h.State, &st, &fin); err != nil {
			return nil, fmt.Errorf("host rollouts %s: %w", hostID, err)
		}
		h.StartedAt, h.FinishedAt = goTime(st), goTime(fin)
		out = append(out, h)
	}
	return out, rows.Err()
}
