package rollout

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/plural"
	"github.com/patchbay/patchbay/engine/store"
)

// advanceAll advances every open rollout.
func (c *Controller) advanceAll(ctx context.Context, f store.Fence) error {
	all, err := c.st.Rollouts(ctx, "")
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range all {
		if !isOpen(r.State) {
			continue
		}
		if err := c.advance(ctx, f, r); err != nil {
			if errors.Is(err, store.ErrLeaseLost) {
				return err
			}
			if !errors.Is(err, store.ErrConflict) { // an admin moved it meanwhile: next tick
				errs = append(errs, fmt.Errorf("rollout %s: %w", r.ID, err))
			}
		}
	}
	return errors.Join(errs...)
}

// advance finishes the hosts of r whose steps are all recorded (or whose
// wave timed out), then decides r's next transition.
func (c *Controller) advance(ctx context.Context, f store.Fence, r store.Rollout) error {
	now := c.o.Now().UTC()
	if r.State == StateRunning && c.o.JoinEvery > 0 && c.inv != nil && now.Sub(c.joined[r.ID]) >= c.o.JoinEvery {
		if err := c.join(ctx, f, r); err != nil {
			return err
		}
		c.joined[r.ID] = now
	}
	if r.State != StateCompleted {
		if err := c.finishHosts(ctx, f, r, now); err != nil {
			return err
		}
	}
	prog, err := c.st.RolloutProgressOf(ctx, r.ID)
	if err != nil {
		return err
	}
	d := decodeDetail(prog.Detail)
	switch r.State {
	case StateRunning:
		return c.advanceRunning(ctx, f, r, prog, d, now)
	case StateCompleted:
		return c.verify(ctx, f, r, prog, d, now)
	}
	return nil
}

// finishHosts settles r's running hosts: a failed step fails the host,
// all steps recorded succeed it; while r runs, a host whose agent runs in
// dry-run mode and has not started is handed back (pending, out of the
// wave) and its slot given to the next host; a host that went silent is
// timed out (see deadline).
func (c *Controller) finishHosts(ctx context.Context, f store.Fence, r store.Rollout, now time.Time) error {
	tally, err := c.st.RolloutStepTally(ctx, r.ID, r.BaselineDigest, HostRunning, stepFailed)
	if err != nil {
		return err
	}
	var ring *baseline.Ring
	if m, err := c.modelAt(ctx, r.Commit); err == nil {
		ring = m.Ring(r.Ring)
	}
	st := stepTimeout(ring)
	var fin []store.HostFinish
	var requeue []store.HostRequeue
	for _, h := range tally {
		switch {
		case h.Failed > 0: // one failed action fails the host; it need not report the rest
			fin = append(fin, store.HostFinish{RolloutID: r.ID, HostID: h.HostID, From: HostRunning, State: HostFailed, At: h.LastAt})
		case h.Recorded >= h.Actions:
			fin = append(fin, store.HostFinish{RolloutID: r.ID, HostID: h.HostID, From: HostRunning, State: HostSucceeded, At: h.LastAt})
		case r.State != StateRunning:
		case h.DryRun && h.Recorded == 0 && (h.HeartbeatAt.IsZero() || h.HeartbeatPhase == PhaseAssigned):
			requeue = append(requeue, store.HostRequeue{RolloutID: r.ID, HostID: h.HostID, From: HostRunning, To: HostPending})
		case now.Sub(h.StartedAt) > c.o.WaveTimeout:
			fin = append(fin, store.HostFinish{RolloutID: r.ID, HostID: h.HostID, From: HostRunning, State: HostTimedOut, At: now})
		case now.After(c.deadline(h, st)):
			fin = append(fin, store.HostFinish{RolloutID: r.ID, HostID: h.HostID, From: HostRunning, State: HostTimedOut, At: now,
				IfHeartbeat: true, HeartbeatAt: h.HeartbeatAt})
			c.log.Warn("rollout: host step reclaimed", "rollout", r.ID, "host", h.HostID, "lastHeartbeat", h.HeartbeatAt, "phase", h.HeartbeatPhase, "stepTimeout", st)
		}
	}
	if len(fin) == 0 && len(requeue) == 0 {
		return nil
	}
	ch := store.RolloutChange{Finish: fin, Requeue: requeue}
	if len(requeue) > 0 {
		prog, err := c.st.RolloutProgressOf(ctx, r.ID)
		if err != nil {
			return err
		}
		// The freed slots go to the next hosts in the same wave.
		ch.Waves = []store.WaveStart{{RolloutID: r.ID, Wave: prog.Wave, N: len(requeue), From: HostPending, To: HostRunning, At: now, SkipDryRun: true}}
		c.log.Info("rollout: dry-run hosts handed back their wave slots", "rollout", r.ID, "hosts", len(requeue))
	}
	_, err = c.apply(ctx, f, ch)
	return err
}

// deadline is when a running host's step counts as timed out: with no
// sign of life since the wave started, PickupTimeout after the start (the
// agent has not fetched its actions); otherwise the ring's step timeout
// after the last sign of life (the server handing out the actions, a
// heartbeat, a recorded result), plus RebootGrace while the last heartbeat
// said the host is rebooting. WaveTimeout bounds it all (see finishHosts).
func (c *Controller) deadline(h store.HostSteps, stepTimeout time.Duration) time.Time {
	if h.HeartbeatAt.IsZero() && h.Recorded == 0 {
		return h.StartedAt.Add(c.o.PickupTimeout)
	}
	last := h.StartedAt
	if h.HeartbeatAt.After(last) {
		last = h.HeartbeatAt
	}
	if h.LastAt.After(last) {
		last = h.LastAt
	}
	if h.HeartbeatPhase == api.PhaseRebooting {
		return last.Add(stepTimeout + c.o.RebootGrace)
	}
	return last.Add(stepTimeout)
}

// failures returns r's failed and timed-out hosts minus those forgiven by
// the last resume.
func (c *Controller) failures(ctx context.Context, id string, counts map[string]int) int {
	n := counts[HostFailed] + counts[HostTimedOut]
	if v, err := c.st.Mark(ctx, markResume+id); err == nil {
		if base, err := strconv.Atoi(v); err == nil {
			n -= base
		}
	}
	return n
}

func (c *Controller) advanceRunning(ctx context.Context, f store.Fence, r store.Rollout, prog store.RolloutProgress, d detail, now time.Time) error {
	counts, err := c.st.RolloutHostCounts(ctx, r.ID)
	if err != nil {
		return err
	}
	ch := store.RolloutChange{States: []store.StateChange{}}
	if fails := c.failures(ctx, r.ID, counts); fails > d.MaxErrors {
		d.Hold = fmt.Sprintf("halted: %s exceed maxErrors %d", plural.Count(fails, "failed host"), d.MaxErrors)
		wc, err := c.st.WaveCounts(ctx, r.ID, prog.Wave)
		if err != nil {
			return err
		}
		if counts[HostRunning] == 0 {
			d.WaveEnded = true // the halt record is this wave's end record
		}
		ch.States = append(ch.States, store.StateChange{ID: r.ID, From: StateRunning, To: StateHalted})
		ch.Events = append(ch.Events, event(r.ID, "controller", r.Commit, waveRecord(r, max(1, prog.Wave), wc, true, now), now))
		prog.Detail = d.encode()
		ch.Progress = []store.RolloutProgress{prog}
		c.log.Warn("rollout: halted", "rollout", r.ID, "failures", fails, "maxErrors", d.MaxErrors)
		_, err = c.apply(ctx, f, ch)
		return err
	}
	if counts[HostRunning] > 0 {
		return nil
	}
	// Hosts whose agent runs in dry-run mode never take a slot: when they
	// are all that is left, they are skipped and the rollout can end.
	dry, err := c.st.RolloutDryRunHosts(ctx, r.ID, HostPending)
	if err != nil {
		return err
	}
	if len(dry) > 0 && len(dry) == counts[HostPending] {
		for _, h := range dry {
			ch.Finish = append(ch.Finish, store.HostFinish{RolloutID: r.ID, HostID: h, From: HostPending, State: HostSkipped, At: now})
		}
		counts[HostPending] -= len(dry)
		counts[HostSkipped] += len(dry)
		c.log.Info("rollout: dry-run hosts skipped", "rollout", r.ID, "hosts", len(dry))
	}
	// The current wave is over.
	if prog.Wave > 0 && !d.WaveEnded {
		wc, err := c.st.WaveCounts(ctx, r.ID, prog.Wave)
		if err != nil {
			return err
		}
		ch.Events = append(ch.Events, event(r.ID, "controller", r.Commit, waveRecord(r, prog.Wave, wc, false, now), now))
		d.WaveEnded = true
	}
	if counts[HostPending] == 0 {
		total := counts[HostSucceeded] + counts[HostFailed] + counts[HostTimedOut] + counts[HostCancelled]
		failed := counts[HostFailed] + counts[HostTimedOut]
		// Skipped (dry-run) hosts ran nothing: they are neither a success
		// nor a failure of the ring.
		ring := d.RingHosts - counts[HostSkipped]
		rate := 1.0
		if ring > 0 {
			rate = float64(ring-failed) / float64(ring)
		}
		threshold := 0.0
		if m, err := c.modelAt(ctx, r.Commit); err == nil && m.Ring(r.Ring) != nil {
			threshold = m.Ring(r.Ring).SuccessThreshold
		}
		outcome, to := "succeeded", StateCompleted
		if rate < threshold {
			outcome, to = "failed", StateFailed
		}
		_ = total
		d.Hold, d.CompletedAt, d.SuccessRate = "", now, rate
		ch.States = append(ch.States, store.StateChange{ID: r.ID, From: StateRunning, To: to})
		ch.Events = append(ch.Events, event(r.ID, "controller", r.Commit, finished(r, outcome, counts, now), now))
		prog.Detail = d.encode()
		ch.Progress = []store.RolloutProgress{prog}
		c.log.Info("rollout: finished", "rollout", r.ID, "outcome", outcome, "successRate", rate)
		_, err = c.apply(ctx, f, ch)
		return err
	}
	// Start the next wave if the ring's schedule allows.
	hold := "ring not in the model"
	if m, err := c.modelAt(ctx, r.Commit); err == nil && m.Ring(r.Ring) != nil {
		hold = ScheduleAt(m.Ring(r.Ring), now).Hold()
	}
	if hold != "" {
		if d.Hold != hold || len(ch.Events) > 0 {
			d.Hold = hold
			prog.Detail = d.encode()
			ch.Progress = []store.RolloutProgress{prog}
			_, err = c.apply(ctx, f, ch)
		}
		return err
	}
	n := min(d.MaxConcurrency, counts[HostPending]-len(dry))
	prog.Wave++
	prog.WaveStartedAt = now
	d.WaveEnded, d.Hold = false, ""
	prog.Detail = d.encode()
	ch.Progress = []store.RolloutProgress{prog}
	ch.Waves = []store.WaveStart{{RolloutID: r.ID, Wave: prog.Wave, N: n, From: HostPending, To: HostRunning, At: now, SkipDryRun: true}}
	if _, err := c.apply(ctx, f, ch); err != nil {
		return err
	}
	c.log.Info("rollout: wave started", "rollout", r.ID, "wave", prog.Wave, "hosts", n)
	return nil
}

func waveRecord(r store.Rollout, wave int, wc map[string]int, halted bool, now time.Time) *audit.RolloutWave {
	total := 0
	for _, n := range wc {
		total += n
	}
	return &audit.RolloutWave{RolloutID: r.ID, Ring: r.Ring, BaselineID: r.BaselineID, BaselineDigest: r.BaselineDigest,
		Wave: wave, HostsTotal: total, HostsSucceeded: wc[HostSucceeded], HostsFailed: wc[HostFailed] + wc[HostTimedOut],
		Halted: halted, FinishedAt: now}
}

// verify writes ring.verified once the ring has soaked: every host that
// succeeded has been compliant for at least the ring's soak (measured from
// the last host to become compliant, or from completion when none had
// work).
func (c *Controller) verify(ctx context.Context, f store.Fence, r store.Rollout, prog store.RolloutProgress, d detail, now time.Time) error {
	m, err := c.modelAt(ctx, r.Commit)
	if err != nil || m.Ring(r.Ring) == nil {
		return err
	}
	ring := m.Ring(r.Ring)
	hosts, err := c.st.RolloutHosts(ctx, r.ID, HostSucceeded)
	if err != nil {
		return err
	}
	var since time.Time // when the last host became compliant
	var hostHours float64
	for _, h := range hosts {
		if h.FinishedAt.After(since) {
			since = h.FinishedAt
		}
	}
	if len(hosts) == 0 {
		// A rollout that changed no host (a ring without hosts, or every
		// host already compliant) has proved nothing: no ring.verified,
		// which the next ring's promotion would count as evidence.
		want := fmt.Sprintf("no ring.verified: this rollout changed no host (the ring has %d)", d.RingHosts)
		if d.Hold != want {
			d.Hold = want
			prog.Detail = d.encode()
			_, err = c.apply(ctx, f, store.RolloutChange{Progress: []store.RolloutProgress{prog}})
		}
		return err
	}
	if since.IsZero() {
		since = d.CompletedAt
	}
	for _, h := range hosts {
		hostHours += now.Sub(h.FinishedAt).Hours()
	}
	if since.IsZero() {
		since = r.CreatedAt
	}
	soaked := now.Sub(since)
	if soaked < time.Duration(ring.Soak) {
		want := fmt.Sprintf("soaking until %s", since.Add(time.Duration(ring.Soak)).UTC().Format(time.RFC3339))
		if d.Hold != want {
			d.Hold = want
			prog.Detail = d.encode()
			_, err = c.apply(ctx, f, store.RolloutChange{Progress: []store.RolloutProgress{prog}})
		}
		return err
	}
	counts, err := c.st.RolloutHostCounts(ctx, r.ID)
	if err != nil {
		return err
	}
	failed := counts[HostFailed] + counts[HostTimedOut]
	// Skipped (dry-run) hosts do not run the baseline: no evidence.
	total := max(d.RingHosts-counts[HostSkipped], failed)
	tested, err := c.ringTestedSet(ctx, m, r)
	if err != nil {
		return fmt.Errorf("tested set: %w", err)
	}
	v := &audit.RingVerified{Ring: r.Ring, BaselineID: r.BaselineID, BaselineDigest: r.BaselineDigest, Commit: r.Commit,
		SuccessRate: d.SuccessRate, HostsTotal: total, HostsSucceeded: total - failed, HostsFailed: failed,
		SoakHours: soaked.Hours(), VerifiedAt: now, TestedSet: tested}
	d.Hold = ""
	prog.Detail = d.encode()
	c.log.Info("rollout: ring verified", "rollout", r.ID, "ring", r.Ring, "soakHours", v.SoakHours, "hostHours", hostHours)
	_, err = c.apply(ctx, f, store.RolloutChange{
		States:   []store.StateChange{{ID: r.ID, From: StateCompleted, To: StateVerified}},
		Progress: []store.RolloutProgress{prog},
		Events:   []store.RolloutEvent{event(r.ID, "controller", r.Commit, v, now)},
	})
	return err
}

// join adds to a running rollout the ring's non-compliant hosts it does
// not cover yet (hosts that reported after it started, or that fell out of
// compliance), as pending hosts after the others.
func (c *Controller) join(ctx context.Context, f store.Fence, r store.Rollout) error {
	m, err := c.modelAt(ctx, r.Commit)
	if err != nil || m.Ring(r.Ring) == nil {
		return err
	}
	reports, err := c.inv.Reports(ctx)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	have, err := c.st.RolloutHosts(ctx, r.ID, "")
	if err != nil {
		return err
	}
	known := make(map[string]bool, len(have))
	seq := 0
	for _, h := range have {
		known[h.HostID] = true
		seq = max(seq, h.Seq)
	}
	p := plan.Compute(plan.Input{Repo: m, Reports: reports, Now: c.o.Now().UTC()}, plan.Options{Ring: r.Ring})
	var add []store.RolloutHost
	for _, ph := range p.Hosts.All() {
		if ph.Ring != r.Ring || known[ph.ID] || ph.Status == plan.Compliant || len(ph.Actions) == 0 {
			continue
		}
		seq++
		add = append(add, store.RolloutHost{RolloutID: r.ID, HostID: ph.ID, Seq: seq, Actions: len(ph.Actions), State: HostPending})
	}
	if len(add) == 0 {
		return nil
	}
	prog, err := c.st.RolloutProgressOf(ctx, r.ID)
	if err != nil {
		return err
	}
	prog.HostsTotal += len(add)
	c.log.Info("rollout: hosts joined", "rollout", r.ID, "hosts", len(add))
	_, err = c.apply(ctx, f, store.RolloutChange{Hosts: add, Progress: []store.RolloutProgress{prog}})
	return err
}
