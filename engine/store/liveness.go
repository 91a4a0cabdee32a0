package store

import (
	"context"
	"fmt"
	"time"
)

// Heartbeat is an agent's sign of life for its step in a rollout: it is
// recorded on the rollout host only while the host is in state State.
type Heartbeat struct {
	RolloutID string
	HostID    string
	State     string
	Phase     string
	At        time.Time
}

// RecordHeartbeat stores the host's last heartbeat (time and phase) in the
// rollout. recorded is false when the rollout has no such host in
// hb.State (it finished, was timed out, or is not in a wave): nothing is
// changed then.
func (s *Store) RecordHeartbeat(ctx context.Context, hb Heartbeat) (recorded bool, err error) {
	if hb.RolloutID == "" || hb.HostID == "" || hb.State == "" {
		return false, fmt.Errorf("record heartbeat: empty rollout, host or state: %w", ErrInvalid)
	}
	if hb.At.IsZero() {
		hb.At = s.now()
	}
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE rollout_hosts SET heartbeat_at = ?, heartbeat_phase = ?
		WHERE rollout_id = ? AND host_id = ? AND state = ?`), dbTime(hb.At), hb.Phase, hb.RolloutID, hb.HostID, hb.State)
	if err != nil {
		return false, fmt.Errorf("record heartbeat %s/%s: %w", hb.RolloutID, hb.HostID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record heartbeat %s/%s: %w", hb.RolloutID, hb.HostID, err)
	}
	return n > 0, nil
}

// SetHostDryRun records that the host's agent asked for its assignment in
// dry-run mode at at; a zero at clears it (the agent applies again).
// ErrNotFound when there is no such host.
func (s *Store) SetHostDryRun(ctx context.Context, hostID string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, s.q("UPDATE hosts SET dry_run_at = ? WHERE id = ?"), dbTime(at), hostID)
	if err != nil {
		return fmt.Errorf("host %s dry run: %w", hostID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("host %s: %w", hostID, ErrNotFound)
	}
	return nil
}

// RolloutDryRunHosts lists the hosts of a rollout in state whose agent
// runs in dry-run mode, by Seq.
func (s *Store) RolloutDryRunHosts(ctx context.Context, id, state string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT h.host_id FROM rollout_hosts h JOIN hosts ho ON ho.id = h.host_id
		WHERE h.rollout_id = ? AND h.state = ? AND ho.dry_run_at <> 0 ORDER BY h.seq`), id, state)
	if err != nil {
		return nil, fmt.Errorf("dry-run hosts %s: %w", id, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("dry-run hosts %s: %w", id, err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}
