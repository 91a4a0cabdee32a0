package rollout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
)

// Hold reasons of an assignment without actions.
const (
	HoldNoRollout = "no active rollout for this host"
	HoldWave      = "waiting for its wave"
	HoldFinished  = "finished in this rollout"
	HoldNoReport  = "no report yet"
	// HoldDryRun is the hold of a dry-run assignment: its actions are
	// shown, never run, and the host takes no wave slot.
	HoldDryRun = "dry run: these actions are what a real run would get; a dry-run host takes no wave slot and is never timed out"
)

// Assignment is the rollout-aware assignment of host (it implements the
// server's Assigner): the host's plan actions only while the host is in
// the running wave of a running rollout of its ring, the ring's window is
// open long enough for the actions and no freeze applies. Actions whose
// result is already recorded are left out. Otherwise the assignment is
// empty and Hold says why.
//
// A dry-run request (q.DryRun) marks the host as a dry-run host, which no
// wave takes (a running one is handed back, see finishHosts), and gets the
// actions a real run would get, with DryRun set and HoldDryRun, whether
// its wave came or not; a request without it clears the mark. Handing out
// actions to a running host counts as a heartbeat (phase "assigned": the
// step has started; see finishHosts for the time-outs).
func (c *Controller) Assignment(ctx context.Context, host store.Host, q api.AssignmentQuery) (api.Assignment, error) {
	now := c.o.Now().UTC()
	out := api.Assignment{HostID: host.ID, Status: "UNKNOWN", GeneratedAt: now, Actions: []api.Action{}, DryRun: q.DryRun}
	if q.DryRun != !host.DryRunAt.IsZero() {
		at := time.Time{}
		if q.DryRun {
			at = now
		}
		if err := c.st.SetHostDryRun(ctx, host.ID, at); err != nil && !errors.Is(err, store.ErrNotFound) {
			return out, err
		}
	}
	var ph *plan.Host
	if c.planner != nil {
		var err error
		if ph, err = c.planner.HostPlan(ctx, host); err != nil {
			return out, err
		}
	}
	if ph != nil {
		out.Status, out.Ring, out.Baseline, out.BaselineDigest, out.PackageSetHash = string(ph.Status), ph.Ring, ph.Baseline, ph.BaselineDigest, ph.PackageSet
	}
	r, rh, err := c.st.HostRollout(ctx, host.ID, activeStates)
	if errors.Is(err, store.ErrNotFound) {
		out.Hold = HoldNoRollout
		return out, nil
	}
	if err != nil {
		return out, err
	}
	out.RolloutID = r.ID
	switch {
	case r.State != StateRunning:
		out.Hold = "rollout " + r.State
		return out, nil
	case rh.State == HostPending && !q.DryRun:
		out.Hold = HoldWave
		return out, nil
	case rh.State != HostRunning && rh.State != HostPending:
		out.Hold = HoldFinished
		return out, nil
	case ph == nil:
		out.Hold = HoldNoReport
		return out, nil
	case ph.BaselineDigest != r.BaselineDigest:
		out.Hold = fmt.Sprintf("the server's model pins %s for this host, the rollout %s", short(ph.BaselineDigest), short(r.BaselineDigest))
		return out, nil
	}
	m, err := c.modelAt(ctx, r.Commit)
	if err != nil {
		return out, err
	}
	ring := m.Ring(r.Ring)
	if ring == nil {
		out.Hold = "ring not in the rollout's model"
		return out, nil
	}
	tb, err := c.bindingOf(ctx, r.ID)
	if err != nil {
		return out, err
	}
	eco, _ := m.Ecosystem(ph.Stream)
	var actions []api.Action
	var need time.Duration
	for _, a := range ph.Actions {
		wa := convertAction(host.ID, r.BaselineDigest, a)
		if wa.Kind == api.KindReboot {
			wa.RebootPolicy = ring.Reboot
		}
		if tb != nil {
			bind(&wa, tb, host.ID, r.BaselineDigest, ph.Stream, eco)
		}
		if _, err := c.st.Step(ctx, store.StepKey{HostID: host.ID, BaselineDigest: r.BaselineDigest, Action: wa.Key}); err == nil {
			continue // already recorded: never assigned again
		} else if !errors.Is(err, store.ErrNotFound) {
			return out, err
		}
		actions = append(actions, wa)
		if a.Kind == plan.Reboot {
			need += c.o.RebootEstimate
		} else {
			need += c.o.ActionEstimate
		}
	}
	if ph.RebootRequired { // a reboot is pending already: reserve time for it
		need += c.o.RebootEstimate
	}
	if q.DryRun {
		if actions == nil {
			actions = []api.Action{}
		}
		out.Actions, out.Rollback, out.Hold = actions, ring.Strategy.Rollback, HoldDryRun
		return out, nil
	}
	s := ScheduleAt(ring, now)
	if h := s.Hold(); h != "" {
		out.Hold = h
		if !s.NextOpen.IsZero() {
			t := s.NextOpen.UTC()
			out.NotBefore = &t
		}
		return out, nil
	}
	if !s.Closes.IsZero() && now.Add(need).After(s.Closes) && len(actions) > 0 {
		out.Hold = fmt.Sprintf("the window closes at %s, before the estimated %s of work ends", s.Closes.UTC().Format(time.RFC3339), need)
		if next := ScheduleAt(ring, s.Closes.Add(time.Second)); !next.NextOpen.IsZero() {
			t := next.NextOpen.UTC()
			out.NotBefore = &t
		}
		return out, nil
	}
	if actions == nil {
		actions = []api.Action{}
	}
	out.Actions = actions
	out.Rollback = ring.Strategy.Rollback
	out.HeartbeatSeconds = int(heartbeatEvery(stepTimeout(ring)) / time.Second)
	if len(actions) > 0 && rh.State == HostRunning {
		// The agent has its actions: the step has started (or, asked
		// again, the agent is alive).
		if _, err := c.st.RecordHeartbeat(ctx, store.Heartbeat{RolloutID: r.ID, HostID: host.ID, State: HostRunning, Phase: PhaseAssigned, At: now}); err != nil {
			return out, err
		}
	}
	return out, nil
}

// PhaseAssigned is the heartbeat phase the server records when it hands a
// running host its actions.
const PhaseAssigned = "assigned"

// stepTimeout is the ring's strategy.stepTimeout, or the default.
func stepTimeout(ring *baseline.Ring) time.Duration {
	if ring != nil && ring.Strategy.StepTimeout > 0 {
		return time.Duration(ring.Strategy.StepTimeout)
	}
	return DefaultStepTimeout
}

// heartbeatEvery is the heartbeat interval the server asks of agents: a
// fifth of the step timeout, between 10 s and 1 min, so that a few lost
// heartbeats never cost a host its slot.
func heartbeatEvery(stepTimeout time.Duration) time.Duration {
	return min(max(stepTimeout/5, 10*time.Second), time.Minute)
}

// convertAction turns a plan action into a wire action with its key and id
// (the same conversion as the server's PlanAssigner).
func convertAction(hostID, digest string, a plan.Action) api.Action {
	key := api.ActionKey(string(a.Kind), a.Package, a.Version, a.Min, a.MinSource, a.Avoid)
	rules := a.Rules
	if rules == nil {
		rules = []string{}
	}
	return api.Action{ID: api.ActionID(hostID, digest, key), Kind: string(a.Kind), Key: key, Package: a.Package,
		Version: a.Version, Min: a.Min, MinSource: a.MinSource, Avoid: a.Avoid, Rules: rules, Reason: a.Reason}
}

// RolloutOf names the newest rollout that covers host with baseline
// digest (the server records the host's step results under it); ok is
// false when there is none.
func (c *Controller) RolloutOf(ctx context.Context, hostID, digest string) (string, bool, error) {
	r, _, err := c.st.HostRollout(ctx, hostID, []string{StateRunning, StatePaused, StateHalted, StateCompleted, StateVerified,
		StateFailed, StateAborted, StateSuperseded})
	if errors.Is(err, store.ErrNotFound) {
		return "", false, nil
	}
	if err != nil || r.BaselineDigest != digest {
		return "", false, err
	}
	return r.ID, true, nil
}

// bindingOf returns the tested set rollout id is bound to (nil when none),
// cached: a binding never changes.
func (c *Controller) bindingOf(ctx context.Context, id string) (*binding, error) {
	c.mu.Lock()
	b, ok := c.bound[id]
	c.mu.Unlock()
	if ok {
		return b, nil
	}
	prog, err := c.st.RolloutProgressOf(ctx, id)
	if err != nil {
		return nil, err
	}
	b = decodeDetail(prog.Detail).Tested
	c.mu.Lock()
	if len(c.bound) > 256 {
		clear(c.bound)
	}
	c.bound[id] = b
	c.mu.Unlock()
	return b, nil
}

// Heartbeat records that host's agent is alive and working on its step of
// rollout hb.RolloutID (it implements the server's HeartbeatRecorder). It
// is recorded only while the host is running in that rollout; otherwise
// the answer says why not (the step finished, was timed out, or the host
// is not in a wave).
func (c *Controller) Heartbeat(ctx context.Context, host store.Host, hb api.Heartbeat) (api.HeartbeatAck, error) {
	ok, err := c.st.RecordHeartbeat(ctx, store.Heartbeat{RolloutID: hb.RolloutID, HostID: host.ID, State: HostRunning, Phase: hb.Phase, At: c.o.Now().UTC()})
	if err != nil || ok {
		return api.HeartbeatAck{Recorded: ok}, err
	}
	r, rh, err := c.st.HostRollout(ctx, host.ID, []string{StateRunning, StatePaused, StateHalted, StateCompleted, StateVerified,
		StateFailed, StateAborted, StateSuperseded})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return api.HeartbeatAck{Reason: "the host is in no rollout"}, nil
	case err != nil:
		return api.HeartbeatAck{}, err
	case r.ID != hb.RolloutID:
		return api.HeartbeatAck{Reason: fmt.Sprintf("the host's rollout is %s, not %s", r.ID, hb.RolloutID)}, nil
	}
	return api.HeartbeatAck{Reason: "the host is " + rh.State + " in rollout " + r.ID}, nil
}
