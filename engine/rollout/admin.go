package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/plural"
	"github.com/patchbay/patchbay/engine/store"
)

// List returns the controller's rollouts, newest first, and the main-branch
// commits that failed validation.
func (c *Controller) List(ctx context.Context) (api.RolloutList, error) {
	all, err := c.st.Rollouts(ctx, "")
	if err != nil {
		return api.RolloutList{}, err
	}
	out := api.RolloutList{Rollouts: []api.Rollout{}}
	for _, r := range all {
		if !isControllerState(r.State) {
			continue
		}
		v, err := c.view(ctx, r, false)
		if err != nil {
			return api.RolloutList{}, err
		}
		out.Rollouts = append(out.Rollouts, v)
	}
	inv, err := c.st.Marks(ctx, markInvalid)
	if err != nil {
		return api.RolloutList{}, err
	}
	if len(inv) > 0 {
		out.Invalid = map[string]string{}
		for k, v := range inv {
			out.Invalid[strings.TrimPrefix(k, markInvalid)] = v
		}
	}
	return out, nil
}

// Show returns one rollout with its waves and events.
func (c *Controller) Show(ctx context.Context, id string) (api.Rollout, error) {
	r, err := c.rollout(ctx, id)
	if err != nil {
		return api.Rollout{}, err
	}
	return c.view(ctx, r, true)
}

func (c *Controller) rollout(ctx context.Context, id string) (store.Rollout, error) {
	r, err := c.st.Rollout(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !isControllerState(r.State)) {
		return store.Rollout{}, fmt.Errorf("rollout %s: %w", id, ErrNotFound)
	}
	return r, err
}

func countsOf(m map[string]int) api.RolloutCounts {
	rc := api.RolloutCounts{Pending: m[HostPending], Running: m[HostRunning], Succeeded: m[HostSucceeded], Failed: m[HostFailed],
		TimedOut: m[HostTimedOut], Cancelled: m[HostCancelled], Skipped: m[HostSkipped]}
	for _, n := range m {
		rc.Total += n
	}
	return rc
}

func (c *Controller) view(ctx context.Context, r store.Rollout, full bool) (api.Rollout, error) {
	prog, err := c.st.RolloutProgressOf(ctx, r.ID)
	if err != nil {
		return api.Rollout{}, err
	}
	d := decodeDetail(prog.Detail)
	counts, err := c.st.RolloutHostCounts(ctx, r.ID)
	if err != nil {
		return api.Rollout{}, err
	}
	v := api.Rollout{ID: r.ID, Ring: r.Ring, Commit: r.Commit, BaselineID: r.BaselineID, BaselineDigest: r.BaselineDigest, State: r.State,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, PR: d.PR, Wave: prog.Wave, RingHosts: d.RingHosts, Hosts: countsOf(counts),
		MaxConcurrency: d.MaxConcurrency, MaxErrors: d.MaxErrors, Hold: d.Hold}
	if !full {
		return v, nil
	}
	hosts, err := c.st.RolloutHosts(ctx, r.ID, "")
	if err != nil {
		return api.Rollout{}, err
	}
	waves := map[int]*api.RolloutWave{}
	for _, h := range hosts {
		if h.Wave == 0 {
			continue
		}
		w := waves[h.Wave]
		if w == nil {
			w = &api.RolloutWave{Wave: h.Wave, StartedAt: h.StartedAt}
			waves[h.Wave] = w
		}
		w.Hosts.Total++
		switch h.State {
		case HostRunning:
			w.Hosts.Running++
		case HostSucceeded:
			w.Hosts.Succeeded++
		case HostFailed:
			w.Hosts.Failed++
		case HostTimedOut:
			w.Hosts.TimedOut++
		}
		if !h.FinishedAt.IsZero() && (w.EndedAt == nil || h.FinishedAt.After(*w.EndedAt)) {
			t := h.FinishedAt
			w.EndedAt = &t
		}
	}
	var done []time.Duration
	for _, w := range waves {
		if w.Hosts.Running > 0 {
			w.EndedAt = nil
		} else if w.EndedAt != nil {
			done = append(done, w.EndedAt.Sub(w.StartedAt))
		}
		v.Waves = append(v.Waves, *w)
	}
	slices.SortFunc(v.Waves, func(a, b api.RolloutWave) int { return a.Wave - b.Wave })
	if r.State == StateRunning && len(done) > 0 && d.MaxConcurrency > 0 {
		var sum time.Duration
		for _, x := range done {
			sum += x
		}
		avg := sum / time.Duration(len(done))
		left := (v.Hosts.Pending + d.MaxConcurrency - 1) / d.MaxConcurrency
		if v.Hosts.Running > 0 {
			left++
		}
		eta := c.o.Now().UTC().Add(time.Duration(left) * avg)
		v.ETA = &eta
	}
	evs, err := c.st.RolloutEvents(ctx, r.ID)
	if err != nil {
		return api.Rollout{}, err
	}
	for _, e := range evs {
		v.Events = append(v.Events, api.RolloutEvent{Kind: e.Kind, Actor: e.Actor, At: e.At, Audited: e.Audited, Detail: eventDetail(e)})
	}
	return v, nil
}

func eventDetail(e store.RolloutEvent) string {
	var pl eventPayload
	if json.Unmarshal(e.Payload, &pl) != nil {
		return ""
	}
	var p struct {
		Wave     int             `json:"wave"`
		Halted   bool            `json:"halted"`
		Outcome  string          `json:"outcome"`
		Hosts    *int            `json:"hosts"`
		Operator *audit.Operator `json:"operator"`
	}
	_ = json.Unmarshal(pl.Predicate, &p)
	op := ""
	if p.Operator != nil {
		op = " (" + p.Operator.Action + " by " + p.Operator.Actor
		if p.Operator.Reason != "" {
			op += ": " + p.Operator.Reason
		}
		op += ")"
	}
	switch e.Kind {
	case string(audit.KindRolloutWave):
		return fmt.Sprintf("wave %d halted=%t", p.Wave, p.Halted) + op
	case string(audit.KindRolloutFinished):
		return "outcome " + p.Outcome + op
	case string(audit.KindRolloutStarted):
		if p.Hosts != nil {
			return plural.Count(*p.Hosts, "host")
		}
	}
	return ""
}

// Pause stops new hosts from starting in a running rollout. actor (the
// admin token's name) and reason go into its audit record; both are
// required (ErrNoReason).
func (c *Controller) Pause(ctx context.Context, id, actor, reason string) (api.Rollout, error) {
	return c.transition(ctx, id, actor, reason, []string{StateRunning}, StatePaused)
}

// Resume continues a paused or halted rollout; failures so far no longer
// count against maxErrors.
func (c *Controller) Resume(ctx context.Context, id, actor, reason string) (api.Rollout, error) {
	return c.transition(ctx, id, actor, reason, []string{StatePaused, StateHalted}, StateRunning)
}

// Abort ends a running, paused or halted rollout: pending hosts are
// cancelled and no host starts again.
func (c *Controller) Abort(ctx context.Context, id, actor, reason string) (api.Rollout, error) {
	return c.transition(ctx, id, actor, reason, activeStates, StateAborted)
}

// transition is an admin state change; any replica may make it. It races
// with the leader only through the state compare-and-set. Its record
// carries the operator (actor, action, reason).
func (c *Controller) transition(ctx context.Context, id, actor, reason string, from []string, to string) (api.Rollout, error) {
	if err := needReason(verb(to), id, actor, reason); err != nil {
		return api.Rollout{}, err
	}
	r, err := c.rollout(ctx, id)
	if err != nil {
		return api.Rollout{}, err
	}
	if !slices.Contains(from, r.State) {
		return api.Rollout{}, fmt.Errorf("%s rollout %s: it is %s: %w", verb(to), id, r.State, ErrState)
	}
	prog, err := c.st.RolloutProgressOf(ctx, id)
	if err != nil {
		return api.Rollout{}, err
	}
	now := c.o.Now().UTC()
	counts, err := c.st.RolloutHostCounts(ctx, id)
	if err != nil {
		return api.Rollout{}, err
	}
	wc, err := c.st.WaveCounts(ctx, id, prog.Wave)
	if err != nil {
		return api.Rollout{}, err
	}
	ch := store.RolloutChange{States: []store.StateChange{{ID: id, From: r.State, To: to}}}
	op := &audit.Operator{Actor: actor, Action: verb(to), Reason: reason}
	switch to {
	case StatePaused:
		w := waveRecord(r, max(1, prog.Wave), wc, true, now)
		w.Operator = op
		ch.Events = append(ch.Events, event(id, actor, r.Commit, w, now))
	case StateRunning:
		ch.Marks = map[string]string{markResume + id: strconv.Itoa(counts[HostFailed] + counts[HostTimedOut])}
		w := waveRecord(r, max(1, prog.Wave), wc, false, now)
		w.Operator = op
		ch.Events = append(ch.Events, event(id, actor, r.Commit, w, now))
	case StateAborted:
		ch.Waves = []store.WaveStart{{RolloutID: id, N: 1 << 30, From: HostPending, To: HostCancelled, At: now}}
		counts[HostCancelled] += counts[HostPending]
		delete(counts, HostPending)
		fin := finished(r, "cancelled", counts, now)
		fin.Operator = op
		ch.Events = append(ch.Events, event(id, actor, r.Commit, fin, now))
	}
	if _, err := c.apply(ctx, store.Fence{}, ch); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return api.Rollout{}, fmt.Errorf("%s rollout %s: its state changed meanwhile: %w", verb(to), id, ErrState)
		}
		return api.Rollout{}, err
	}
	c.log.Info("rollout: "+verb(to), "rollout", id, "actor", actor, "reason", reason)
	c.poke()
	return c.Show(ctx, id)
}

// needReason refuses an operator action without an actor or a reason
// (blank counts as none): its record must say who and why.
func needReason(action, id, actor, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("%s rollout %s: say why (it is recorded with your name): %w", action, id, ErrNoReason)
	}
	if strings.TrimSpace(actor) == "" {
		return fmt.Errorf("%s rollout %s: no actor: %w", action, id, ErrNoReason)
	}
	return nil
}

func verb(to string) string {
	switch to {
	case StatePaused:
		return "pause"
	case StateRunning:
		return "resume"
	}
	return "abort"
}

// Approve starts an unreviewed rollout anyway (break-glass): it writes a
// signed rollout.approved record naming actor (the admin token's name) and
// reason, then rollout.started, and the rollout runs. reason is required.
func (c *Controller) Approve(ctx context.Context, id, actor, reason string) (api.Rollout, error) {
	if err := needReason("approve", id, actor, reason); err != nil {
		return api.Rollout{}, err
	}
	r, err := c.rollout(ctx, id)
	if err != nil {
		return api.Rollout{}, err
	}
	if r.State != StateUnreviewed {
		return api.Rollout{}, fmt.Errorf("approve rollout %s: it is %s, not unreviewed: %w", id, r.State, ErrState)
	}
	prog, err := c.st.RolloutProgressOf(ctx, id)
	if err != nil {
		return api.Rollout{}, err
	}
	now := c.o.Now().UTC()
	d := decodeDetail(prog.Detail)
	d.Hold = ""
	prog.Detail = d.encode()
	ch := store.RolloutChange{
		States:   []store.StateChange{{ID: id, From: StateUnreviewed, To: StateRunning}},
		Progress: []store.RolloutProgress{prog},
		Events: []store.RolloutEvent{
			event(id, actor, r.Commit, &audit.RolloutApproved{RolloutID: id, Ring: r.Ring, BaselineID: r.BaselineID, BaselineDigest: r.BaselineDigest,
				Commit: r.Commit, Actor: actor, Reason: reason, ApprovedAt: now}, now),
			event(id, actor, r.Commit, &audit.RolloutStarted{RolloutID: id, Ring: r.Ring, BaselineID: r.BaselineID, BaselineDigest: r.BaselineDigest,
				Hosts: prog.HostsTotal, StartedAt: now}, now),
		},
	}
	if _, err := c.apply(ctx, store.Fence{}, ch); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return api.Rollout{}, fmt.Errorf("approve rollout %s: its state changed meanwhile: %w", id, ErrState)
		}
		return api.Rollout{}, err
	}
	c.log.Warn("rollout: unreviewed rollout approved (break-glass)", "rollout", id, "actor", actor, "reason", reason)
	c.poke()
	return c.Show(ctx, id)
}
