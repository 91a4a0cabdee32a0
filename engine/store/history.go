package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// HistoryRule is a rule as it was judged: where it applies (stream, kind,
// name) and what it carried (severity, KEV flag, and Since: the advisory's
// publication or the baseline's creation). Each distinct combination is
// stored once and referred to by id.
type HistoryRule struct {
	Stream   string
	Kind     string
	Name     string
	Severity string
	KEV      bool
	Since    time.Time
}

// HostState is one rule's state on one host as engine/history codes it
// (State 0 means the rule no longer applies to the host); Deadline is the
// SLA deadline of an open state; RolloutID names the rollout under which
// the host reached this state, when known.
type HostState struct {
	Rule      HistoryRule
	State     int
	Deadline  time.Time
	RolloutID string
}

// HistoryChange is one row of the append-only state history.
type HistoryChange struct {
	HostID string
	At     time.Time
	HostState
}

// HostStates is every rule state of one host at one time: the input of
// RecordStates.
type HostStates struct {
	HostID string
	At     time.Time
	States []HostState
}

// RecordStates appends, for each host, a history row for every rule whose
// state differs from the host's last recorded state for that rule, and a
// row with state 0 for every rule recorded before but absent now. Nothing
// is written for a rule whose state did not change, so the history grows
// with changes, not with reports. All hosts are written in one
// transaction; it returns the number of rows appended.
func (s *Store) RecordStates(ctx context.Context, batch []HostStates) (int, error) {
	if len(batch) == 0 {
		return 0, nil
	}
	n := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockSLA(ctx, tx); err != nil {
			return err
		}
		ids := map[HistoryRule]int64{}
		stale := false
		for _, hs := range batch {
			if hs.HostID == "" || hs.At.IsZero() {
				return fmt.Errorf("record states: empty host id or time: %w", ErrInvalid)
			}
			last, lastAt, err := s.lastStates(ctx, tx, hs.HostID)
			if err != nil {
				return err
			}
			sla := &slaHost{s: s, host: hs.HostID}
			at := dbTime(hs.At)
			seen := make(map[int64]bool, len(hs.States))
			for _, st := range hs.States {
				if st.State == 0 {
					return fmt.Errorf("record states %s: state 0 is reserved: %w", hs.HostID, ErrInvalid)
				}
				id, ok := ids[st.Rule]
				if !ok {
					if id, err = s.ruleID(ctx, tx, st.Rule); err != nil {
						return err
					}
					ids[st.Rule] = id
				}
				seen[id] = true
				if prev, ok := last[id]; ok && prev == st.State {
					continue
				}
				if err := s.appendChange(ctx, tx, hs.HostID, id, hs.At, st); err != nil {
					return err
				}
				stale = stale || lastAt[id] >= at
				if err := sla.change(ctx, tx, id, at, st.State, dbTime(st.Deadline)); err != nil {
					return err
				}
				n++
			}
			for id, prev := range last {
				if seen[id] || prev == 0 {
					continue
				}
				if err := s.appendChange(ctx, tx, hs.HostID, id, hs.At, HostState{}); err != nil {
					return err
				}
				stale = stale || lastAt[id] >= at
				if err := sla.change(ctx, tx, id, at, 0, 0); err != nil {
					return err
				}
				n++
			}
		}
		if stale {
			// A change at or before an earlier one of the same host and
			// rule rewrote the past the counters were built on.
			return s.markSLAStale(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// lastStates returns the latest recorded state per rule id of a host, and
// when it was recorded.
func (s *Store) lastStates(ctx context.Context, ex execer, host string) (map[int64]int, map[int64]int64, error) {
	rows, err := ex.QueryContext(ctx, s.q(`SELECT c.rule_id, c.state, c.at FROM history_changes c
		WHERE c.host_id = ? AND c.at = (SELECT MAX(l.at) FROM history_changes l WHERE l.host_id = c.host_id AND l.rule_id = c.rule_id)`), host)
	if err != nil {
		return nil, nil, fmt.Errorf("record states %s: last states: %w", host, err)
	}
	defer rows.Close()
	out, ats := map[int64]int{}, map[int64]int64{}
	for rows.Next() {
		var id, at int64
		var st int
		if err := rows.Scan(&id, &st, &at); err != nil {
			return nil, nil, fmt.Errorf("record states %s: last states: %w", host, err)
		}
		out[id], ats[id] = st, at
	}
	return out, ats, rows.Err()
}

func (s *Store) ruleID(ctx context.Context, ex execer, r HistoryRule) (int64, error) {
	kev := 0
	if r.KEV {
		kev = 1
	}
	args := []any{r.Stream, r.Kind, r.Name, r.Severity, kev, dbTime(r.Since)}
	if _, err := ex.ExecContext(ctx, s.q(`INSERT INTO history_rules (stream, kind, name, severity, kev, since) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (stream, kind, name, severity, kev, since) DO NOTHING`), args...); err != nil {
		return 0, fmt.Errorf("record states: rule %s/%s: %w", r.Kind, r.Name, err)
	}
	var id int64
	err := ex.QueryRowContext(ctx, s.q(`SELECT id FROM history_rules WHERE stream = ? AND kind = ? AND name = ? AND severity = ? AND kev = ? AND since = ?`), args...).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record states: rule %s/%s: %w", r.Kind, r.Name, err)
	}
	return id, nil
}

func (s *Store) appendChange(ctx context.Context, ex execer, host string, rule int64, at time.Time, st HostState) error {
	var rollout any
	if st.RolloutID != "" {
		rollout = st.RolloutID
	}
	_, err := ex.ExecContext(ctx, s.q(`INSERT INTO history_changes (host_id, rule_id, at, state, deadline, rollout_id) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (host_id, rule_id, at) DO UPDATE SET state = excluded.state, deadline = excluded.deadline, rollout_id = excluded.rollout_id`),
		host, rule, dbTime(at), st.State, dbTime(st.Deadline), rollout)
	if err != nil {
		return fmt.Errorf("record states %s: %w", host, err)
	}
	return nil
}

// ChangeFilter selects state changes. Zero fields do not filter; From is
// inclusive, To exclusive. Limit 0 means no limit.
type ChangeFilter struct {
	HostID string
	From   time.Time
	To     time.Time
	Limit  int
}

// StateChanges returns the recorded changes that match f, ordered by time,
// then host, then rule.
func (s *Store) StateChanges(ctx context.Context, f ChangeFilter) ([]HistoryChange, error) {
	var where []string
	var args []any
	if f.HostID != "" {
		where = append(where, "c.host_id = ?")
		args = append(args, f.HostID)
	}
	if !f.From.IsZero() {
		where = append(where, "c.at >= ?")
		args = append(args, dbTime(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "c.at < ?")
		args = append(args, dbTime(f.To))
	}
	q := `SELECT c.host_id, c.at, c.state, c.deadline, COALESCE(c.rollout_id, ''), r.stream, r.kind, r.name, r.severity, r.kev, r.since
		FROM history_changes c JOIN history_rules r ON r.id = c.rule_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY c.at, c.host_id, r.kind, r.name, c.rule_id"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := s.r.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("state changes: %w", err)
	}
	defer rows.Close()
	var out []HistoryChange
	for rows.Next() {
		var c HistoryChange
		var at, deadline, since int64
		var kev int
		if err := rows.Scan(&c.HostID, &at, &c.State, &deadline, &c.RolloutID, &c.Rule.Stream, &c.Rule.Kind, &c.Rule.Name,
			&c.Rule.Severity, &kev, &since); err != nil {
			return nil, fmt.Errorf("state changes: %w", err)
		}
		c.At, c.Deadline, c.Rule.Since, c.Rule.KEV = goTime(at), goTime(deadline), goTime(since), kev != 0
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state changes: %w", err)
	}
	return out, nil
}

// Rollup is one day's compliance counts for a scope ("fleet", "ring" or
// "stream") and name (the ring or stream; "fleet" for the fleet). Day is
// the UTC midnight the counts belong to.
type Rollup struct {
	Scope string
	Name  string
	Day   time.Time
	// Hosts and Compliant count hosts; the finding counts count open
	// (non-compliant) rule results by severity, and KEV those flagged KEV.
	Hosts, Compliant            int
	Critical, High, Medium, Low int
	KEV, Overdue                int
	RebootPending, Excepted     int
}

// PutRollups writes roll-ups, replacing a scope's row of the same day (the
// last computation of a day wins).
func (s *Store) PutRollups(ctx context.Context, rs []Rollup) error {
	if len(rs) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, r := range rs {
			if r.Scope == "" || r.Day.IsZero() {
				return fmt.Errorf("put rollups: empty scope or day: %w", ErrInvalid)
			}
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO history_rollups (scope, name, day, hosts, compliant, critical, high, medium, low, kev, overdue, reboot_pending, excepted)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (scope, name, day) DO UPDATE SET hosts = excluded.hosts, compliant = excluded.compliant,
				critical = excluded.critical, high = excluded.high, medium = excluded.medium, low = excluded.low, kev = excluded.kev,
				overdue = excluded.overdue, reboot_pending = excluded.reboot_pending, excepted = excluded.excepted`),
				r.Scope, r.Name, dbTime(day(r.Day)), r.Hosts, r.Compliant, r.Critical, r.High, r.Medium, r.Low, r.KEV, r.Overdue, r.RebootPending, r.Excepted)
			if err != nil {
				return fmt.Errorf("put rollups: %w", err)
			}
		}
		return nil
	})
}

// Rollups returns the roll-ups of scope (all scopes when empty) for days in
// [from, to), ordered by scope, name and day.
func (s *Store) Rollups(ctx context.Context, scope string, from, to time.Time) ([]Rollup, error) {
	q := `SELECT scope, name, day, hosts, compliant, critical, high, medium, low, kev, overdue, reboot_pending, excepted
		FROM history_rollups WHERE day >= ? AND day < ?`
	args := []any{dbTime(day(from)), dbTime(to)}
	if scope != "" {
		q += " AND scope = ?"
		args = append(args, scope)
	}
	rows, err := s.r.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("rollups: %w", err)
	}
	defer rows.Close()
	var out []Rollup
	for rows.Next() {
		var r Rollup
		var d int64
		if err := rows.Scan(&r.Scope, &r.Name, &d, &r.Hosts, &r.Compliant, &r.Critical, &r.High, &r.Medium, &r.Low, &r.KEV,
			&r.Overdue, &r.RebootPending, &r.Excepted); err != nil {
			return nil, fmt.Errorf("rollups: %w", err)
		}
		r.Day = goTime(d)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rollups: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Scope != b.Scope {
			return a.Scope < b.Scope
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Day.Before(b.Day)
	})
	return out, nil
}

// PruneHistory forgets history older than before: roll-ups of earlier
// days, and state changes superseded before it. The row in force at before
// is kept for each host and rule (so the state at any kept time is still
// known), unless it says the rule no longer applies. It returns the number
// of rows deleted.
func (s *Store) PruneHistory(ctx context.Context, before time.Time) (int64, error) {
	cut := dbTime(before)
	var total int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`DELETE FROM history_rollups WHERE day < ?`,
			`DELETE FROM history_changes WHERE at < ? AND EXISTS (SELECT 1 FROM history_changes n
				WHERE n.host_id = history_changes.host_id AND n.rule_id = history_changes.rule_id AND n.at > history_changes.at AND n.at <= ?)`,
			`DELETE FROM history_changes WHERE at < ? AND state = 0`,
		} {
			args := []any{cut}
			if strings.Count(q, "?") == 2 {
				args = append(args, cut)
			}
			res, err := tx.ExecContext(ctx, s.q(q), args...)
			if err != nil {
				return fmt.Errorf("prune history: %w", err)
			}
			n, _ := res.RowsAffected()
			total += n
		}
		return nil
	})
	return total, err
}

// day truncates t to its UTC midnight.
func day(t time.Time) time.Time {
	return t.UTC().Truncate(24 * time.Hour)
}

// ScanChanges calls fn for every recorded change before to (all when to is
// zero), ordered by host, rule and time — the primary key's order, so the
// scan reads the table once and sorts nothing, and the caller needs to
// keep only one host and rule in memory at a time. fn's error stops the
// scan and is returned.
func (s *Store) ScanChanges(ctx context.Context, to time.Time, fn func(HistoryChange) error) error {
	rules := map[int64]HistoryRule{}
	rows, err := s.r.QueryContext(ctx, "SELECT id, stream, kind, name, severity, kev, since FROM history_rules")
	if err != nil {
		return fmt.Errorf("scan changes: rules: %w", err)
	}
	for rows.Next() {
		var id, since int64
		var kev int
		var r HistoryRule
		if err := rows.Scan(&id, &r.Stream, &r.Kind, &r.Name, &r.Severity, &kev, &since); err != nil {
			rows.Close()
			return fmt.Errorf("scan changes: rules: %w", err)
		}
		r.KEV, r.Since = kev != 0, goTime(since)
		rules[id] = r
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("scan changes: rules: %w", err)
	}
	end := int64(math.MaxInt64)
	if !to.IsZero() {
		end = dbTime(to)
	}
	rows, err = s.r.QueryContext(ctx, s.q(`SELECT host_id, rule_id, at, state, deadline, COALESCE(rollout_id, '') FROM history_changes
		WHERE at < ? ORDER BY host_id, rule_id, at`), end)
	if err != nil {
		return fmt.Errorf("scan changes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c HistoryChange
		var rule, at, deadline int64
		if err := rows.Scan(&c.HostID, &rule, &at, &c.State, &deadline, &c.RolloutID); err != nil {
			return fmt.Errorf("scan changes: %w", err)
		}
		c.Rule, c.At, c.Deadline = rules[rule], goTime(at), goTime(deadline)
		if err := fn(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan changes: %w", err)
	}
	return nil
}
