package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Rollout is the execution of one merged change in one ring, bound to the
// commit and the baseline (id and digest) it rolls out.
type Rollout struct {
	ID             string
	Ring           string
	Commit         string
	BaselineID     string
	BaselineDigest string
	// State is the rollout state machine's state; the store does not
	// interpret it, it only compares and sets it (SetRolloutState).
	State     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

const rolloutColumns = "id, ring, commit_sha, baseline_id, baseline_digest, state, created_at, updated_at"

func scanRollout(sc interface{ Scan(...any) error }) (Rollout, error) {
	var r Rollout
	var c, u int64
	err := sc.Scan(&r.ID, &r.Ring, &r.Commit, &r.BaselineID, &r.BaselineDigest, &r.State, &c, &u)
	r.CreatedAt, r.UpdatedAt = goTime(c), goTime(u)
	return r, err
}

// CreateRollout stores r; CreatedAt and UpdatedAt default to now.
// ErrConflict if a rollout with r.ID exists.
func (s *Store) CreateRollout(ctx context.Context, r Rollout) (Rollout, error) {
	if r.ID == "" || r.Ring == "" || r.State == "" {
		return Rollout{}, fmt.Errorf("create rollout: empty id, ring or state: %w", ErrInvalid)
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = r.CreatedAt
	}
	_, err := s.w.ExecContext(ctx, s.q("INSERT INTO rollouts ("+rolloutColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
		r.ID, r.Ring, r.Commit, r.BaselineID, r.BaselineDigest, r.State, dbTime(r.CreatedAt), dbTime(r.UpdatedAt))
	if isUnique(err) {
		return Rollout{}, fmt.Errorf("create rollout %s: %w", r.ID, ErrConflict)
	}
	if err != nil {
		return Rollout{}, fmt.Errorf("create rollout %s: %w", r.ID, err)
	}
	r.CreatedAt, r.UpdatedAt = goTime(dbTime(r.CreatedAt)), goTime(dbTime(r.UpdatedAt))
	return r, nil
}

// Rollout returns the rollout with id, or ErrNotFound.
func (s *Store) Rollout(ctx context.Context, id string) (Rollout, error) {
	r, err := scanRollout(s.r.QueryRowContext(ctx, s.q("SELECT "+rolloutColumns+" FROM rollouts WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Rollout{}, fmt.Errorf("rollout %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Rollout{}, fmt.Errorf("rollout %s: %w", id, err)
	}
	return r, nil
}

// Rollouts lists the rollouts of ring (all rings when empty), newest first.
func (s *Store) Rollouts(ctx context.Context, ring string) ([]Rollout, error) {
	query, args := "SELECT "+rolloutColumns+" FROM rollouts", []any{}
	if ring != "" {
		query += " WHERE ring = ?"
		args = append(args, ring)
	}
	rows, err := s.r.QueryContext(ctx, s.q(query+" ORDER BY created_at DESC, id"), args...)
	if err != nil {
		return nil, fmt.Errorf("list rollouts: %w", err)
	}
	defer rows.Close()
	var out []Rollout
	for rows.Next() {
		r, err := scanRollout(rows)
		if err != nil {
			return nil, fmt.Errorf("list rollouts: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list rollouts: %w", err)
	}
	return out, nil
}

// SetRolloutState moves the rollout from state from to state to (compare
// and set). ErrNotFound if there is no such rollout, ErrConflict if its
// state is no longer from (another replica moved it).
func (s *Store) SetRolloutState(ctx context.Context, id, from, to string) error {
	return s.setRolloutState(ctx, nil, id, from, to)
}

// Fence is a held lease as AcquireLease returned it; fenced writes succeed
// only while it is still the current, unexpired holder and token.
type Fence struct {
	Lease   string
	Holder  string
	Fencing int64
}

// SetRolloutStateFenced is SetRolloutState for a leader: the update happens
// only if f still holds its lease (same holder and fencing token, not
// expired), checked in the same statement, so a deposed leader that has not
// noticed yet cannot move a rollout. ErrLeaseLost otherwise.
func (s *Store) SetRolloutStateFenced(ctx context.Context, f Fence, id, from, to string) error {
	return s.setRolloutState(ctx, &f, id, from, to)
}

func (s *Store) setRolloutState(ctx context.Context, f *Fence, id, from, to string) error {
	now := dbTime(s.now())
	query := "UPDATE rollouts SET state = ?, updated_at = ? WHERE id = ? AND state = ?"
	args := []any{to, now, id, from}
	if f != nil {
		query += " AND EXISTS (SELECT 1 FROM leases WHERE name = ? AND holder = ? AND fencing = ? AND expires_at > ?)"
		args = append(args, f.Lease, f.Holder, f.Fencing, now)
	}
	res, err := s.w.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return fmt.Errorf("set rollout %s state: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	if f != nil {
		held, err := s.LeaseHeld(ctx, f.Lease, f.Holder, f.Fencing)
		if err != nil {
			return fmt.Errorf("set rollout state: %w", err)
		}
		if !held {
			return fmt.Errorf("set rollout %s state: lease %s fencing %d: %w", id, f.Lease, f.Fencing, ErrLeaseLost)
		}
	}
	cur, err := s.Rollout(ctx, id)
	if err != nil {
		return fmt.Errorf("set rollout state: %w", err)
	}
	return fmt.Errorf("set rollout %s state %s → %s: state is %s: %w", id, from, to, cur.State, ErrConflict)
}

// StepKey is a host step's idempotency key: a host runs an action for a
// baseline digest at most once.
type StepKey struct {
	HostID         string
	BaselineDigest string
	Action         string
}

// StepResult is the recorded outcome of one host step.
type StepResult struct {
	Key       StepKey
	RolloutID string
	// Status is the outcome as the rollout package names it (e.g.
	// succeeded, failed); the store does not interpret it.
	Status     string
	Detail     []byte
	RecordedAt time.Time
}

// RecordStepResult stores the result of a step once. A second result for
// the same key changes nothing and returns duplicate = true (the first
// result stands; read it with Step). ErrNotFound if the rollout does not
// exist.
func (s *Store) RecordStepResult(ctx context.Context, r StepResult) (duplicate bool, err error) {
	k := r.Key
	if k.HostID == "" || k.BaselineDigest == "" || k.Action == "" || r.RolloutID == "" || r.Status == "" {
		return false, fmt.Errorf("record step: empty key field, rollout id or status: %w", ErrInvalid)
	}
	if r.RecordedAt.IsZero() {
		r.RecordedAt = s.now()
	}
	if r.Detail == nil {
		r.Detail = []byte{}
	}
	res, err := s.w.ExecContext(ctx, s.q(`INSERT INTO rollout_steps (host_id, baseline_digest, action, rollout_id, status, detail, recorded_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (host_id, baseline_digest, action) DO NOTHING`),
		k.HostID, k.BaselineDigest, k.Action, r.RolloutID, r.Status, r.Detail, dbTime(r.RecordedAt))
	if isForeignKey(err) {
		return false, fmt.Errorf("record step: rollout %s: %w", r.RolloutID, ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("record step %v: %w", k, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record step %v: %w", k, err)
	}
	return n == 0, nil
}

const stepColumns = "host_id, baseline_digest, action, rollout_id, status, detail, recorded_at"

func scanStep(sc interface{ Scan(...any) error }) (StepResult, error) {
	var r StepResult
	var at int64
	err := sc.Scan(&r.Key.HostID, &r.Key.BaselineDigest, &r.Key.Action, &r.RolloutID, &r.Status, &r.Detail, &at)
	r.RecordedAt = goTime(at)
	return r, err
}

// Step returns the recorded result for key, or ErrNotFound.
func (s *Store) Step(ctx context.Context, k StepKey) (StepResult, error) {
	r, err := scanStep(s.r.QueryRowContext(ctx, s.q("SELECT "+stepColumns+
		" FROM rollout_steps WHERE host_id = ? AND baseline_digest = ? AND action = ?"), k.HostID, k.BaselineDigest, k.Action))
	if errors.Is(err, sql.ErrNoRows) {
		return StepResult{}, fmt.Errorf("step %v: %w", k, ErrNotFound)
	}
	if err != nil {
		return StepResult{}, fmt.Errorf("step %v: %w", k, err)
	}
	return r, nil
}

// Steps lists the recorded step results of a rollout, by host and action.
func (s *Store) Steps(ctx context.Context, rolloutID string) ([]StepResult, error) {
	rows, err := s.r.QueryContext(ctx, s.q("SELECT "+stepColumns+" FROM rollout_steps WHERE rollout_id = ? ORDER BY host_id, action"), rolloutID)
	if err != nil {
		return nil, fmt.Errorf("steps %s: %w", rolloutID, err)
	}
	defer rows.Close()
	var out []StepResult
	for rows.Next() {
		r, err := scanStep(rows)
		if err != nil {
			return nil, fmt.Errorf("steps %s: %w", rolloutID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("steps %s: %w", rolloutID, err)
	}
	return out, nil
}

// AcquireLease takes or renews the lease called name for holder until
// now + ttl, in one atomic upsert. ok is false when another holder has an
// unexpired lease. fencing increases every time the lease changes hands
// or is taken again after it expired (it stays the same only when the
// holder renews an unexpired lease: a holder whose lease lapsed starts a
// new term, and its writes of the old term are refused), so a write carrying an older
// fencing token can be recognized as coming from a deposed leader
// (see LeaseHeld). Expiry uses Options.Now: replicas' clocks must agree to
// well within ttl.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (fencing int64, ok bool, err error) {
	if name == "" || holder == "" || ttl <= 0 {
		return 0, false, fmt.Errorf("acquire lease: empty name or holder, or ttl <= 0: %w", ErrInvalid)
	}
	now := s.now()
	err = s.w.QueryRowContext(ctx, s.q(`INSERT INTO leases (name, holder, fencing, expires_at) VALUES (?, ?, 1, ?)
		ON CONFLICT (name) DO UPDATE SET
			fencing = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > ? THEN leases.fencing ELSE leases.fencing + 1 END,
			holder = excluded.holder,
			expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?
		RETURNING fencing`), name, holder, dbTime(now.Add(ttl)), dbTime(now), dbTime(now)).Scan(&fencing)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	return fencing, true, nil
}

// LeaseHeld reports whether holder still holds the lease called name with
// fencing token fencing and it has not expired.
func (s *Store) LeaseHeld(ctx context.Context, name, holder string, fencing int64) (bool, error) {
	var one int
	err := s.r.QueryRowContext(ctx, s.q("SELECT 1 FROM leases WHERE name = ? AND holder = ? AND fencing = ? AND expires_at > ?"),
		name, holder, fencing, dbTime(s.now())).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", name, err)
	}
	return true, nil
}

// ReleaseLease gives up the lease if holder holds it (it expires now; the
// fencing token is kept so the next holder's is higher). Releasing a lease
// one does not hold does nothing.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.w.ExecContext(ctx, s.q("UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?"),
		dbTime(s.now()), name, holder); err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}
