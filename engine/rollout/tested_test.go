package rollout_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/agent"
	"github.com/patchbay/patchbay/engine/agent/agenttest"
	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/rollout"
	"github.com/patchbay/patchbay/engine/store"
)

// converge runs one round of hosts that really change: each host with
// work installs its actions on a simulated host (one transaction; exact
// versions when the action names one), reports the new state and records
// its results. sims are created on first use from the host's report.
func (e *env) converge(ctx context.Context, c *rollout.Controller, sims map[string]*agenttest.Sim, seen map[string][]api.Action) {
	e.t.Helper()
	for _, id := range e.hostIDs() {
		a, err := c.Assignment(ctx, store.Host{ID: id}, api.AssignmentQuery{})
		if err != nil {
			e.t.Fatalf("assignment %s: %v", id, err)
		}
		if len(a.Actions) == 0 {
			continue
		}
		seen[id] = append(seen[id], a.Actions...)
		sim := sims[id]
		if sim == nil {
			sim = agenttest.New(e.reports[id], e.clk.Now)
			sims[id] = sim
		}
		var reqs []agent.Request
		for _, act := range a.Actions {
			if act.Kind != api.KindReboot {
				reqs = append(reqs, agent.Request{Package: act.Package, Version: act.Version, Kind: act.Kind, Min: act.Min, MinSource: act.MinSource})
			}
		}
		if len(reqs) > 0 {
			if _, err := sim.Install(ctx, reqs); err != nil {
				e.t.Fatalf("%s: install: %v", id, err)
			}
		}
		// The agent's reboot rule: always, or if-required when the host
		// reports that it needs one.
		for _, act := range a.Actions {
			if act.Kind == api.KindReboot && (act.RebootPolicy == api.RebootAlways || sim.RebootRequired()) {
				_ = sim.Reboot(ctx)
			}
		}
		post, err := sim.Collect(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		e.mu.Lock()
		e.reports[id] = post
		e.mu.Unlock()
		for _, act := range a.Actions {
			status := api.OutcomeSucceeded
			if ok, _ := agent.Satisfied(post, act); !ok && act.Kind != api.KindReboot {
				status = api.OutcomeFailed
			}
			if _, err := e.st.RecordStepResult(ctx, store.StepResult{Key: store.StepKey{HostID: id, BaselineDigest: a.BaselineDigest, Action: act.Key},
				RolloutID: a.RolloutID, Status: status}); err != nil {
				e.t.Fatalf("record %s: %v", id, err)
			}
		}
	}
}

// TestTestedSetBindsPromotion: canary converges and is verified; its
// ring.verified names the exact versions it ran; the promotion to pilot
// assigns exactly those versions, so an openssh published after canary's
// verification is not installed in pilot.
func TestTestedSetBindsPromotion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, "sqlite://"+filepath.Join(t.TempDir(), "patchbay.db"))
	c := e.controller("a", nil)
	e.step(ctx, c)
	e.mergeCanary()
	e.step(ctx, c)
	id := canaryRollout(t, ctx, c)
	sims := map[string]*agenttest.Sim{}
	seen := map[string][]api.Action{}
	for round := 0; round < 30; round++ {
		e.converge(ctx, c, sims, seen)
		e.clk.Advance(time.Minute)
		e.step(ctx, c)
		if v, _ := c.Show(ctx, id); v.State != rollout.StateRunning {
			break
		}
	}
	e.clk.Advance(25 * time.Hour)
	e.step(ctx, c)
	if v, _ := c.Show(ctx, id); v.State != rollout.StateVerified {
		t.Fatalf("canary: %s (%s)", v.State, v.Hold)
	}
	log, err := audit.Read(ctx, e.repo)
	if err != nil {
		t.Fatal(err)
	}
	recs := log.Of(audit.KindRingVerified)
	if len(recs) != 1 {
		t.Fatalf("%d ring.verified records", len(recs))
	}
	p, err := recs[0].Decode()
	if err != nil {
		t.Fatal(err)
	}
	rv := p.(*audit.RingVerified)
	tested := map[string]audit.TestedVersion{}
	for _, tv := range rv.TestedSet {
		tested[tv.Stream+"/"+tv.Package] = tv
	}
	ssh, ok := tested["debian-12/openssh-client"]
	if !ok || ssh.Hosts < 2 {
		t.Fatalf("tested set lacks debian-12 openssh-client on the canary hosts: %+v", rv.TestedSet)
	}

	// Promote to pilot; a newer openssh is published after the verification.
	e.mergeGated(8, "promote-pilot", map[string]string{
		"rings/pilot.cue": e.file("rings/pilot.cue", `baseline: "2026-11"`, `baseline: "2026-11-hotfix-1"`)})
	e.clk.Set(time.Date(2026, 11, 30, 21, 30, 0, 0, time.UTC)) // Monday 22:30 in Berlin: pilot's window
	e.step(ctx, c)
	const newer = "1:9.2p1-2+deb12u9"
	var pilotActs []api.Action
	for round := 0; round < 20; round++ {
		for _, h := range []string{"deb12-pilot-01", "deb12-pilot-02"} {
			if sims[h] == nil {
				sims[h] = agenttest.New(e.reports[h], e.clk.Now)
				sims[h].Publish("openssh-client", ssh.Version, newer)
			}
		}
		e.converge(ctx, c, sims, seen)
		e.clk.Advance(time.Minute)
		e.step(ctx, c)
	}
	pilotActs = append(seen["deb12-pilot-01"], seen["deb12-pilot-02"]...)
	if len(pilotActs) == 0 {
		t.Fatal("pilot hosts got no actions")
	}
	for _, act := range pilotActs {
		if act.Kind == api.KindReboot {
			continue
		}
		tv, ok := tested["debian-12/"+act.Package]
		if act.Tested == nil || !ok || act.Version != tv.Version || !slices.Contains(act.Tested.Versions, tv.Version) || act.Tested.Ring != "canary" {
			t.Errorf("pilot action %s (tested %+v): want exactly canary's %s", act.Key, act.Tested, tv.Version)
		}
		if !strings.Contains(act.Key, "version="+tv.Version) {
			t.Errorf("key %q does not name the tested version", act.Key)
		}
	}
	for _, h := range []string{"deb12-pilot-01", "deb12-pilot-02"} {
		if got := sims[h].Version("openssh-client"); got != ssh.Version {
			t.Errorf("%s runs openssh-client %s, want canary's tested %s (never the newer candidate %s)", h, got, ssh.Version, newer)
		}
	}
}
