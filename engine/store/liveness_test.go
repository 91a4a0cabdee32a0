package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testLiveness covers heartbeats of running rollout hosts, the dry-run
// mark of a host, waves that pass dry-run hosts over, the requeue that
// frees a slot, and a time-out that a fresh heartbeat prevents.
func testLiveness(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	clk := newClock()
	s := mustOpen(t, newURL(t), Options{Now: clk.Now})
	enroll(t, s, "h1", "h2", "h3")
	fence, ok, err := s.AcquireLease(ctx, "controller", "a", time.Hour)
	if err != nil || !ok {
		t.Fatalf("AcquireLease: %v %v", ok, err)
	}
	f := Fence{Lease: "controller", Holder: "a", Fencing: fence}
	var hosts []RolloutHost
	for i, id := range []string{"h1", "h2", "h3"} {
		hosts = append(hosts, RolloutHost{RolloutID: "r1", HostID: id, Seq: i + 1, Actions: 1, State: "pending"})
	}
	if _, err := s.Apply(ctx, f, RolloutChange{Creates: []Rollout{{ID: "r1", Ring: "canary", BaselineDigest: "sha256:aa", State: "running"}},
		NewProgress: []RolloutProgress{{RolloutID: "r1", HostsTotal: 3}}, Hosts: hosts}); err != nil {
		t.Fatal(err)
	}

	// h1's agent runs dry: the wave of one passes it over and takes h2.
	if err := s.SetHostDryRun(ctx, "h1", clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.SetHostDryRun(ctx, "nope", clk.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetHostDryRun unknown host: %v, want ErrNotFound", err)
	}
	if h, err := s.Host(ctx, "h1"); err != nil || !h.DryRunAt.Equal(clk.Now()) {
		t.Errorf("Host h1 DryRunAt = %v, %v", h.DryRunAt, err)
	}
	n, err := s.Apply(ctx, f, RolloutChange{Waves: []WaveStart{{RolloutID: "r1", Wave: 1, N: 1, From: "pending", To: "running", At: clk.Now(), SkipDryRun: true}}})
	if err != nil || !cmp.Equal(n, []int{1}) {
		t.Fatalf("wave: %v %v", n, err)
	}
	running := hostIDs(t, s, "r1", "running")
	if !cmp.Equal(running, []string{"h2"}) {
		t.Fatalf("running after a wave of 1 = %v, want [h2] (h1 runs dry)", running)
	}
	if d, err := s.RolloutDryRunHosts(ctx, "r1", "pending"); err != nil || !cmp.Equal(d, []string{"h1"}) {
		t.Errorf("RolloutDryRunHosts pending = %v, %v", d, err)
	}

	// A heartbeat is recorded for a running host only.
	clk.Advance(time.Minute)
	if ok, err := s.RecordHeartbeat(ctx, Heartbeat{RolloutID: "r1", HostID: "h2", State: "running", Phase: "install"}); err != nil || !ok {
		t.Fatalf("heartbeat h2: %v %v", ok, err)
	}
	if ok, err := s.RecordHeartbeat(ctx, Heartbeat{RolloutID: "r1", HostID: "h3", State: "running", Phase: "install"}); err != nil || ok {
		t.Errorf("heartbeat of pending h3: %v %v, want not recorded", ok, err)
	}
	if _, err := s.RecordHeartbeat(ctx, Heartbeat{HostID: "h3", State: "running"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("heartbeat without rollout: %v", err)
	}
	_, rh, err := s.HostRollout(ctx, "h2", []string{"running"})
	if err != nil || !rh.HeartbeatAt.Equal(clk.Now()) || rh.HeartbeatPhase != "install" {
		t.Errorf("HostRollout h2 = %+v, %v", rh, err)
	}
	tally, err := s.RolloutStepTally(ctx, "r1", "sha256:aa", "running", "failed")
	if err != nil || len(tally) != 1 || !tally[0].HeartbeatAt.Equal(clk.Now()) || tally[0].HeartbeatPhase != "install" || tally[0].DryRun {
		t.Fatalf("tally = %+v, %v", tally, err)
	}
	seen := tally[0].HeartbeatAt

	// A time-out decided on an older heartbeat does not apply once a newer
	// one arrived.
	clk.Advance(time.Minute)
	if _, err := s.RecordHeartbeat(ctx, Heartbeat{RolloutID: "r1", HostID: "h2", State: "running", Phase: "health"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, f, RolloutChange{Finish: []HostFinish{{RolloutID: "r1", HostID: "h2", From: "running", State: "timedout",
		At: clk.Now(), IfHeartbeat: true, HeartbeatAt: seen}}}); err != nil {
		t.Fatal(err)
	}
	if running := hostIDs(t, s, "r1", "running"); !cmp.Equal(running, []string{"h2"}) {
		t.Errorf("after a stale time-out: running %v, want [h2]", running)
	}

	// h2's agent turns to dry-run: requeued and its slot refilled by h3 in
	// the same change; the requeued host has no wave, start or heartbeat.
	if err := s.SetHostDryRun(ctx, "h2", clk.Now()); err != nil {
		t.Fatal(err)
	}
	if tally, _ := s.RolloutStepTally(ctx, "r1", "sha256:aa", "running", "failed"); len(tally) != 1 || !tally[0].DryRun {
		t.Errorf("tally after dry-run mark = %+v", tally)
	}
	n, err = s.Apply(ctx, f, RolloutChange{Requeue: []HostRequeue{{RolloutID: "r1", HostID: "h2", From: "running", To: "pending"}},
		Waves: []WaveStart{{RolloutID: "r1", Wave: 1, N: 1, From: "pending", To: "running", At: clk.Now(), SkipDryRun: true}}})
	if err != nil || !cmp.Equal(n, []int{1}) {
		t.Fatalf("requeue and refill: %v %v", n, err)
	}
	if running := hostIDs(t, s, "r1", "running"); !cmp.Equal(running, []string{"h3"}) {
		t.Errorf("after requeue: running %v, want [h3]", running)
	}
	all, err := s.RolloutHosts(ctx, "r1", "pending")
	if err != nil || len(all) != 2 {
		t.Fatalf("pending: %+v %v", all, err)
	}
	for _, h := range all {
		if h.Wave != 0 || !h.StartedAt.IsZero() || !h.HeartbeatAt.IsZero() || h.HeartbeatPhase != "" {
			t.Errorf("pending host %+v keeps wave, start or heartbeat", h)
		}
	}
	// Cleared, h1 is eligible again.
	if err := s.SetHostDryRun(ctx, "h1", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if d, err := s.RolloutDryRunHosts(ctx, "r1", "pending"); err != nil || !cmp.Equal(d, []string{"h2"}) {
		t.Errorf("RolloutDryRunHosts after clearing h1 = %v, %v", d, err)
	}
}

func hostIDs(t *testing.T, s *Store, id, state string) []string {
	t.Helper()
	hs, err := s.RolloutHosts(context.Background(), id, state)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range hs {
		out = append(out, h.HostID)
	}
	return out
}
