package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// RolloutProgress is a rollout's controller bookkeeping: the current wave
// (0 before the first), when it started, how many hosts the rollout
// covers, and opaque details (JSON the rollout package owns).
type RolloutProgress struct {
	RolloutID     string
	Wave          int
	WaveStartedAt time.Time
	HostsTotal    int
	Detail        []byte
}

// RolloutHost is one host of a rollout. Seq orders assignment; Actions is
// how many steps the host is expected to report; Wave is 0 until the host
// is assigned to a wave. State is the rollout package's host state; the
// store only compares it.
type RolloutHost struct {
	RolloutID  string
	HostID     string
	Seq        int
	Actions    int
	Wave       int
	State      string
	StartedAt  time.Time
	FinishedAt time.Time
	// HeartbeatAt is when the host's agent last said it is working on its
	// step (zero: never), and HeartbeatPhase what it said it was doing.
	HeartbeatAt    time.Time
	HeartbeatPhase string
}

// RolloutEvent is an outbox entry: a transition still to be written to the
// audit trail (Audited false) or already written.
type RolloutEvent struct {
	ID        int64
	RolloutID string
	Kind      string
	Payload   []byte
	Actor     string
	At        time.Time
	Audited   bool
}

// StateChange moves a rollout from state From to state To (compare and
// set).
type StateChange struct {
	ID, From, To string
}

// WaveStart assigns the next N hosts of a rollout in state From (by Seq)
// to wave Wave and moves them to state To, at At. With SkipDryRun, hosts
// whose agent runs in dry-run mode (Host.DryRunAt set) are passed over.
type WaveStart struct {
	RolloutID  string
	Wave       int
	N          int
	From, To   string
	At         time.Time
	SkipDryRun bool
}

// HostFinish moves one rollout host from state From to State, at At. With
// IfHeartbeat, only while the host's heartbeat is still HeartbeatAt (as the
// caller saw it): a heartbeat that arrived meanwhile keeps the host.
type HostFinish struct {
	RolloutID   string
	HostID      string
	From        string
	State       string
	At          time.Time
	IfHeartbeat bool
	HeartbeatAt time.Time
}

// HostRequeue moves one rollout host from state From back to state To,
// out of its wave (wave 0, no start, no heartbeat): the slot it held is
// free again.
type HostRequeue struct {
	RolloutID string
	HostID    string
	From, To  string
}

// RolloutChange is one atomic controller write: everything in it is
// applied in one transaction, under the fence, or nothing is.
type RolloutChange struct {
	// Creates are new rollouts, NewProgress their progress rows and Hosts
	// their hosts.
	Creates     []Rollout
	NewProgress []RolloutProgress
	Hosts       []RolloutHost
	// Progress replaces existing progress rows (the whole row).
	Progress []RolloutProgress
	States   []StateChange
	// Requeue runs before Waves, so a freed slot can be refilled in the
	// same change.
	Requeue     []HostRequeue
	Waves       []WaveStart
	Finish      []HostFinish
	Events      []RolloutEvent
	AuditedUpTo []int64 // event ids now written to the audit trail
	Marks       map[string]string
}

// Apply applies c in one transaction after checking f. ErrLeaseLost when the
// fence no longer holds; ErrConflict when a state compare-and-set finds
// another state (nothing is applied then); ErrConflict also when Create's
// id exists. It returns how many hosts each WaveStart assigned.
func (s *Store) Apply(ctx context.Context, f Fence, c RolloutChange) (assigned []int, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		assigned = assigned[:0]
		if err := s.checkFence(ctx, tx, f); err != nil {
			return err
		}
		now := s.now()
		for _, r := range c.Creates {
			if r.CreatedAt.IsZero() {
				r.CreatedAt = now
			}
			if r.UpdatedAt.IsZero() {
				r.UpdatedAt = r.CreatedAt
			}
			_, err := tx.ExecContext(ctx, s.q("INSERT INTO rollouts ("+rolloutColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
				r.ID, r.Ring, r.Commit, r.BaselineID, r.BaselineDigest, r.State, dbTime(r.CreatedAt), dbTime(r.UpdatedAt))
			if isUnique(err) {
				return fmt.Errorf("create rollout %s: %w", r.ID, ErrConflict)
			}
			if err != nil {
				return fmt.Errorf("create rollout %s: %w", r.ID, err)
			}
		}
		for _, p := range c.NewProgress {
			if _, err := tx.ExecContext(ctx, s.q("INSERT INTO rollout_progress (rollout_id, wave, wave_started_at, hosts_total, detail) VALUES (?, ?, ?, ?, ?)"),
				p.RolloutID, p.Wave, dbTime(p.WaveStartedAt), p.HostsTotal, orEmptyJSON(p.Detail)); err != nil {
				return fmt.Errorf("rollout %s progress: %w", p.RolloutID, err)
			}
		}
		for _, p := range c.Progress {
			if _, err := tx.ExecContext(ctx, s.q("UPDATE rollout_progress SET wave = ?, wave_started_at = ?, hosts_total = ?, detail = ? WHERE rollout_id = ?"),
				p.Wave, dbTime(p.WaveStartedAt), p.HostsTotal, orEmptyJSON(p.Detail), p.RolloutID); err != nil {
				return fmt.Errorf("rollout %s progress: %w", p.RolloutID, err)
			}
		}
		if err := s.insertRolloutHosts(ctx, tx, c.Hosts); err != nil {
			return err
		}
		for _, sc := range c.States {
			res, err := tx.ExecContext(ctx, s.q("UPDATE rollouts SET state = ?, updated_at = ? WHERE id = ? AND state = ?"),
				sc.To, dbTime(now), sc.ID, sc.From)
			if err != nil {
				return fmt.Errorf("set rollout %s state: %w", sc.ID, err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("set rollout %s state %s → %s: %w", sc.ID, sc.From, sc.To, ErrConflict)
			}
		}
		for _, h := range c.Requeue {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE rollout_hosts SET state = ?, wave = 0, started_at = 0, heartbeat_at = 0, heartbeat_phase = ''
				WHERE rollout_id = ? AND host_id = ? AND state = ?`), h.To, h.RolloutID, h.HostID, h.From); err != nil {
				return fmt.Errorf("requeue host %s: %w", h.HostID, err)
			}
		}
		for _, w := range c.Waves {
			skip := ""
			if w.SkipDryRun {
				skip = " AND host_id NOT IN (SELECT id FROM hosts WHERE dry_run_at <> 0)"
			}
			res, err := tx.ExecContext(ctx, s.q(`UPDATE rollout_hosts SET wave = ?, state = ?, started_at = ?, heartbeat_at = 0, heartbeat_phase = ''
				WHERE rollout_id = ? AND state = ? AND host_id IN (SELECT host_id FROM rollout_hosts WHERE rollout_id = ? AND state = ?`+skip+` ORDER BY seq LIMIT ?)`),
				w.Wave, w.To, dbTime(w.At), w.RolloutID, w.From, w.RolloutID, w.From, w.N)
			if err != nil {
				return fmt.Errorf("start wave %d of %s: %w", w.Wave, w.RolloutID, err)
			}
			n, _ := res.RowsAffected()
			assigned = append(assigned, int(n))
		}
		if len(c.Finish) > 0 {
			st, err := tx.PrepareContext(ctx, s.q("UPDATE rollout_hosts SET state = ?, finished_at = ? WHERE rollout_id = ? AND host_id = ? AND state = ?"))
			if err != nil {
				return fmt.Errorf("finish hosts: %w", err)
			}
			defer st.Close()
			for _, h := range c.Finish {
				var err error
				if h.IfHeartbeat {
					_, err = tx.ExecContext(ctx, s.q("UPDATE rollout_hosts SET state = ?, finished_at = ? WHERE rollout_id = ? AND host_id = ? AND state = ? AND heartbeat_at = ?"),
						h.State, dbTime(h.At), h.RolloutID, h.HostID, h.From, dbTime(h.HeartbeatAt))
				} else {
					_, err = st.ExecContext(ctx, h.State, dbTime(h.At), h.RolloutID, h.HostID, h.From)
				}
				if err != nil {
					return fmt.Errorf("finish host %s: %w", h.HostID, err)
				}
			}
		}
		for _, e := range c.Events {
			if err := s.insertEvent(ctx, tx, e, now); err != nil {
				return err
			}
		}
		for _, id := range c.AuditedUpTo {
			if _, err := tx.ExecContext(ctx, s.q("UPDATE rollout_events SET audited = 1 WHERE id = ?"), id); err != nil {
				return fmt.Errorf("mark event %d: %w", id, err)
			}
		}
		for name, v := range c.Marks {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO controller_marks (name, value, updated_at) VALUES (?, ?, ?)
				ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`), name, v, dbTime(now)); err != nil {
				return fmt.Errorf("mark %s: %w", name, err)
			}
		}
		return nil
	})
	return assigned, err
}

// insertEvent adds e to the outbox (not yet audited).
func (s *Store) insertEvent(ctx context.Context, ex execer, e RolloutEvent, now time.Time) error {
	at := e.At
	if at.IsZero() {
		at = now
	}
	p := e.Payload
	if p == nil {
		p = []byte{}
	}
	if _, err := ex.ExecContext(ctx, s.q("INSERT INTO rollout_events (rollout_id, kind, payload, actor, at, audited) VALUES (?, ?, ?, ?, ?, 0)"),
		e.RolloutID, e.Kind, p, e.Actor, dbTime(at)); err != nil {
		return fmt.Errorf("rollout event: %w", err)
	}
	return nil
}

// SetEventPayload replaces the payload of the outbox entry id when it is
// still old (compare and set; the rollout package fills in the commit of
// a record that was enqueued without one). It reports whether it did.
func (s *Store) SetEventPayload(ctx context.Context, id int64, old, payload []byte) (bool, error) {
	res, err := s.w.ExecContext(ctx, s.q("UPDATE rollout_events SET payload = ? WHERE id = ? AND payload = ? AND audited = 0"), payload, id, old)
	if err != nil {
		return false, fmt.Errorf("set event %d payload: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("set event %d payload: %w", id, err)
	}
	return n == 1, nil
}

func orEmptyJSON(b []byte) []byte {
	if b == nil {
		return []byte("{}")
	}
	return b
}

func (s *Store) insertRolloutHosts(ctx context.Context, tx *sql.Tx, hosts []RolloutHost) error {
	const per = 200 // rows per statement; 8 parameters each stays under every backend's limit
	for len(hosts) > 0 {
		n := min(per, len(hosts))
		var b strings.Builder
		b.WriteString("INSERT INTO rollout_hosts (rollout_id, host_id, seq, actions, wave, state, started_at, finished_at) VALUES ")
		args := make([]any, 0, n*8)
		for i, h := range hosts[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, h.RolloutID, h.HostID, h.Seq, h.Actions, h.Wave, h.State, dbTime(h.StartedAt), dbTime(h.FinishedAt))
		}
		if _, err := tx.ExecContext(ctx, s.q(b.String()), args...); err != nil {
			if isUnique(err) {
				return fmt.Errorf("insert rollout hosts: %w", ErrConflict)
			}
			return fmt.Errorf("insert rollout hosts: %w", err)
		}
		hosts = hosts[n:]
	}
	return nil
}

// checkFence refuses the transaction unless f's holder still holds the
// lease with f's token. On PostgreSQL the lease row is share-locked until
// the transaction ends, so a takeover (which updates it) waits for this
// write and then bumps the token; on SQLite write transactions are
// serialized anyway.
func (s *Store) checkFence(ctx context.Context, tx *sql.Tx, f Fence) error {
	if f.Lease == "" {
		return nil
	}
	lock := ""
	if s.backend == BackendPostgres {
		lock = " FOR SHARE"
	}
	var one int
	err := tx.QueryRowContext(ctx, s.q("SELECT 1 FROM leases WHERE name = ? AND holder = ? AND fencing = ? AND expires_at > ?"+lock),
		f.Lease, f.Holder, f.Fencing, dbTime(s.now())).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("lease %s held by %s with token %d: %w", f.Lease, f.Holder, f.Fencing, ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("check lease %s: %w", f.Lease, err)
	}
	return nil
}

// RolloutProgressOf returns a rollout's progress row, or ErrNotFound.
func (s *Store) RolloutProgressOf(ctx context.Context, id string) (RolloutProgress, error) {
	p := RolloutProgress{RolloutID: id}
	var at int64
	err := s.r.QueryRowContext(ctx, s.q("SELECT wave, wave_started_at, hosts_total, detail FROM rollout_progress WHERE rollout_id = ?"), id).
		Scan(&p.Wave, &at, &p.HostsTotal, &p.Detail)
	if errors.Is(err, sql.ErrNoRows) {
		return RolloutProgress{}, fmt.Errorf("rollout progress %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return RolloutProgress{}, fmt.Errorf("rollout progress %s: %w", id, err)
	}
	p.WaveStartedAt = goTime(at)
	return p, nil
}

const rolloutHostColumns = "rollout_id, host_id, seq, actions, wave, state, started_at, finished_at, heartbeat_at, heartbeat_phase"

func scanRolloutHost(sc interface{ Scan(...any) error }) (RolloutHost, error) {
	var h RolloutHost
	var st, fin, hb int64
	err := sc.Scan(&h.RolloutID, &h.HostID, &h.Seq, &h.Actions, &h.Wave, &h.State, &st, &fin, &hb, &h.HeartbeatPhase)
	h.StartedAt, h.FinishedAt, h.HeartbeatAt = goTime(st), goTime(fin), goTime(hb)
	return h, err
}

// RolloutHosts lists a rollout's hosts in state (all when empty), by Seq.
func (s *Store) RolloutHosts(ctx context.Context, id, state string) ([]RolloutHost, error) {
	q, args := "SELECT "+rolloutHostColumns+" FROM rollout_hosts WHERE rollout_id = ?", []any{id}
	if state != "" {
		q += " AND state = ?"
		args = append(args, state)
	}
	rows, err := s.r.QueryContext(ctx, s.q(q+" ORDER BY seq"), args...)
	if err != nil {
		return nil, fmt.Errorf("rollout hosts %s: %w", id, err)
	}
	defer rows.Close()
	var out []RolloutHost
	for rows.Next() {
		h, err := scanRolloutHost(rows)
		if err != nil {
			return nil, fmt.Errorf("rollout hosts %s: %w", id, err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rollout hosts %s: %w", id, err)
	}
	return out, nil
}

// HostRollout returns the newest rollout whose state is one of states and
// that covers host, with the host's row; ErrNotFound when there is none.
func (s *Store) HostRollout(ctx context.Context, hostID string, states []string) (Rollout, RolloutHost, error) {
	if len(states) == 0 {
		return Rollout{}, RolloutHost{}, fmt.Errorf("host rollout: no states: %w", ErrInvalid)
	}
	args := []any{hostID}
	for _, st := range states {
		args = append(args, st)
	}
	cols := "r.id, r.ring, r.commit_sha, r.baseline_id, r.baseline_digest, r.state, r.created_at, r.updated_at, " +
		"h.rollout_id, h.host_id, h.seq, h.actions, h.wave, h.state, h.started_at, h.finished_at, h.heartbeat_at, h.heartbeat_phase"
	row := s.r.QueryRowContext(ctx, s.q("SELECT "+cols+" FROM rollout_hosts h JOIN rollouts r ON r.id = h.rollout_id WHERE h.host_id = ? AND r.state IN (?"+
		strings.Repeat(", ?", len(states)-1)+") ORDER BY r.created_at DESC, r.id DESC LIMIT 1"), args...)
	var r Rollout
	var h RolloutHost
	var c, u, st, fin, hb int64
	err := row.Scan(&r.ID, &r.Ring, &r.Commit, &r.BaselineID, &r.BaselineDigest, &r.State, &c, &u,
		&h.RolloutID, &h.HostID, &h.Seq, &h.Actions, &h.Wave, &h.State, &st, &fin, &hb, &h.HeartbeatPhase)
	if errors.Is(err, sql.ErrNoRows) {
		return Rollout{}, RolloutHost{}, fmt.Errorf("host %s rollout: %w", hostID, ErrNotFound)
	}
	if err != nil {
		return Rollout{}, RolloutHost{}, fmt.Errorf("host %s rollout: %w", hostID, err)
	}
	r.CreatedAt, r.UpdatedAt, h.StartedAt, h.FinishedAt, h.HeartbeatAt = goTime(c), goTime(u), goTime(st), goTime(fin), goTime(hb)
	return r, h, nil
}

// HostSteps is the step tally of one rollout host: its expected action
// count, how many step results are recorded for it under the rollout's
// baseline digest, how many of those carry the failed status, and when the
// last one was recorded.
type HostSteps struct {
	HostID    string
	Actions   int
	StartedAt time.Time
	Recorded  int
	Failed    int
	LastAt    time.Time
	// HeartbeatAt and HeartbeatPhase are the host's last heartbeat in
	// this rollout (zero and empty: none); DryRun says its agent runs in
	// dry-run mode (Host.DryRunAt set).
	HeartbeatAt    time.Time
	HeartbeatPhase string
	DryRun         bool
}

// RolloutStepTally tallies the recorded steps of a rollout's hosts in
// state, joining on (host, digest): results count whichever rollout id they
// were recorded under. failedStatus names the status counted as Failed.
func (s *Store) RolloutStepTally(ctx context.Context, id, digest, state, failedStatus string) ([]HostSteps, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT h.host_id, h.actions, h.started_at, COUNT(st.action),
			COALESCE(SUM(CASE WHEN st.status = ? THEN 1 ELSE 0 END), 0), COALESCE(MAX(st.recorded_at), 0),
			h.heartbeat_at, h.heartbeat_phase, COALESCE(MAX(ho.dry_run_at), 0)
		FROM rollout_hosts h LEFT JOIN rollout_steps st ON st.host_id = h.host_id AND st.baseline_digest = ?
			LEFT JOIN hosts ho ON ho.id = h.host_id
		WHERE h.rollout_id = ? AND h.state = ?
		GROUP BY h.host_id, h.actions, h.started_at, h.seq, h.heartbeat_at, h.heartbeat_phase ORDER BY h.seq`), failedStatus, digest, id, state)
	if err != nil {
		return nil, fmt.Errorf("step tally %s: %w", id, err)
	}
	defer rows.Close()
	var out []HostSteps
	for rows.Next() {
		var h HostSteps
		var st, last, hb, dry int64
		if err := rows.Scan(&h.HostID, &h.Actions, &st, &h.Recorded, &h.Failed, &last, &hb, &h.HeartbeatPhase, &dry); err != nil {
			return nil, fmt.Errorf("step tally %s: %w", id, err)
		}
		h.StartedAt, h.LastAt, h.HeartbeatAt, h.DryRun = goTime(st), goTime(last), goTime(hb), dry != 0
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("step tally %s: %w", id, err)
	}
	return out, nil
}

// RolloutHostCounts counts a rollout's hosts by state.
func (s *Store) RolloutHostCounts(ctx context.Context, id string) (map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, s.q("SELECT state, COUNT(*) FROM rollout_hosts WHERE rollout_id = ? GROUP BY state"), id)
	if err != nil {
		return nil, fmt.Errorf("rollout host counts %s: %w", id, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("rollout host counts %s: %w", id, err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

// WaveCounts counts the hosts of one wave of a rollout by state.
func (s *Store) WaveCounts(ctx context.Context, id string, wave int) (map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, s.q("SELECT state, COUNT(*) FROM rollout_hosts WHERE rollout_id = ? AND wave = ? GROUP BY state"), id, wave)
	if err != nil {
		return nil, fmt.Errorf("wave counts %s: %w", id, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("wave counts %s: %w", id, err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

const eventColumns = "id, rollout_id, kind, payload, actor, at, audited"

func scanEvent(sc interface{ Scan(...any) error }) (RolloutEvent, error) {
	var e RolloutEvent
	var at, audited int64
	err := sc.Scan(&e.ID, &e.RolloutID, &e.Kind, &e.Payload, &e.Actor, &at, &audited)
	e.At, e.Audited = goTime(at), audited != 0
	return e, err
}

func (s *Store) events(ctx context.Context, where string, args ...any) ([]RolloutEvent, error) {
	rows, err := s.r.QueryContext(ctx, s.q("SELECT "+eventColumns+" FROM rollout_events WHERE "+where+" ORDER BY id"), args...)
	if err != nil {
		return nil, fmt.Errorf("rollout events: %w", err)
	}
	defer rows.Close()
	var out []RolloutEvent
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("rollout events: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// PendingRolloutEvents lists the events not yet audited, oldest first.
func (s *Store) PendingRolloutEvents(ctx context.Context) ([]RolloutEvent, error) {
	return s.events(ctx, "audited = 0")
}

// PendingRolloutEventCount counts the events not yet audited (the
// publishing backlog).
func (s *Store) PendingRolloutEventCount(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, s.q("SELECT COUNT(*) FROM rollout_events WHERE audited = 0")).Scan(&n); err != nil {
		return 0, fmt.Errorf("pending rollout events: %w", err)
	}
	return n, nil
}

// RolloutEvents lists a rollout's events, oldest first.
func (s *Store) RolloutEvents(ctx context.Context, id string) ([]RolloutEvent, error) {
	return s.events(ctx, "rollout_id = ?", id)
}

// Mark returns the value of the named controller mark, or ErrNotFound.
func (s *Store) Mark(ctx context.Context, name string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, s.q("SELECT value FROM controller_marks WHERE name = ?"), name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("mark %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("mark %s: %w", name, err)
	}
	return v, nil
}

// Marks lists the controller marks whose name starts with prefix.
func (s *Store) Marks(ctx context.Context, prefix string) (map[string]string, error) {
	rows, err := s.r.QueryContext(ctx, s.q("SELECT name, value FROM controller_marks WHERE name LIKE ? ESCAPE '\\' ORDER BY name"),
		strings.NewReplacer("%", `\%`, "_", `\_`).Replace(prefix)+"%")
	if err != nil {
		return nil, fmt.Errorf("marks %s: %w", prefix, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("marks %s: %w", prefix, err)
		}
		out[k] = v
	}
	return out, rows.Err()
}
