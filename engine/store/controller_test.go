package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testController covers the rollout controller's tables: an atomic create
// with hosts, waves assigned by seq, host outcomes, the step tally joined on
// (host, digest), the event outbox, marks, and fencing.
func testController(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	clk := newClock()
	s := mustOpen(t, newURL(t), Options{Now: clk.Now})
	fence, ok, err := s.AcquireLease(ctx, "controller", "a", 30*time.Second)
	if err != nil || !ok {
		t.Fatalf("AcquireLease: %v %v", ok, err)
	}
	f := Fence{Lease: "controller", Holder: "a", Fencing: fence}
	const digest = "sha256:aa"
	var hosts []RolloutHost
	for i := range 450 { // more than one multi-row insert statement
		hosts = append(hosts, RolloutHost{RolloutID: "r1", HostID: fmt.Sprintf("h%03d", i), Seq: i, Actions: 2, State: "pending"})
	}
	_, err = s.Apply(ctx, f, RolloutChange{
		Creates:     []Rollout{{ID: "r1", Ring: "canary", Commit: "c1", BaselineID: "b", BaselineDigest: digest, State: "running"}},
		NewProgress: []RolloutProgress{{RolloutID: "r1", HostsTotal: len(hosts), Detail: []byte(`{"pr":7}`)}},
		Hosts:       hosts,
		Events:      []RolloutEvent{{RolloutID: "r1", Kind: "rollout.started", Payload: []byte("{}"), Actor: "controller"}},
		Marks:       map[string]string{"cursor:main": "c1", "cursor_x": "other"},
	})
	if err != nil {
		t.Fatalf("Apply create: %v", err)
	}
	// Creating the same rollout again conflicts and applies nothing.
	if _, err := s.Apply(ctx, f, RolloutChange{Creates: []Rollout{{ID: "r1", Ring: "canary", State: "running"}},
		Marks: map[string]string{"cursor:main": "c2"}}); !errors.Is(err, ErrConflict) {
		t.Errorf("second create: %v, want ErrConflict", err)
	}
	if v, err := s.Mark(ctx, "cursor:main"); err != nil || v != "c1" {
		t.Errorf("Mark = %q, %v; want c1 (the conflicting change must not apply)", v, err)
	}
	if m, err := s.Marks(ctx, "cursor:"); err != nil || !cmp.Equal(m, map[string]string{"cursor:main": "c1"}) {
		t.Errorf("Marks(cursor:) = %v, %v", m, err)
	}
	// Waves take pending hosts by seq.
	n, err := s.Apply(ctx, f, RolloutChange{Waves: []WaveStart{{RolloutID: "r1", Wave: 1, N: 3, From: "pending", To: "running", At: clk.Now()}},
		Progress: []RolloutProgress{{RolloutID: "r1", Wave: 1, WaveStartedAt: clk.Now(), HostsTotal: len(hosts)}}})
	if err != nil || !cmp.Equal(n, []int{3}) {
		t.Fatalf("start wave: %v, %v", n, err)
	}
	running, err := s.RolloutHosts(ctx, "r1", "running")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range running {
		ids = append(ids, h.HostID)
	}
	if diff := cmp.Diff([]string{"h000", "h001", "h002"}, ids); diff != "" {
		t.Errorf("wave 1 hosts (-want +got):\n%s", diff)
	}
	// Step results join on host and digest, whatever rollout they name.
	if _, err := s.CreateRollout(ctx, Rollout{ID: "direct:" + digest, Ring: "-", BaselineDigest: digest, State: "direct"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ host, action, status string }{{"h000", "a1", "succeeded"}, {"h000", "a2", "succeeded"}, {"h001", "a1", "failed"}} {
		if _, err := s.RecordStepResult(ctx, StepResult{Key: StepKey{HostID: r.host, BaselineDigest: digest, Action: r.action},
			RolloutID: "direct:" + digest, Status: r.status}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RecordStepResult(ctx, StepResult{Key: StepKey{HostID: "h002", BaselineDigest: "sha256:other", Action: "a1"},
		RolloutID: "direct:" + digest, Status: "failed"}); err != nil {
		t.Fatal(err)
	}
	tally, err := s.RolloutStepTally(ctx, "r1", digest, "running", "failed")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]int{}
	for _, h := range tally {
		got[h.HostID] = [2]int{h.Recorded, h.Failed}
	}
	if diff := cmp.Diff(map[string][2]int{"h000": {2, 0}, "h001": {1, 1}, "h002": {0, 0}}, got); diff != "" {
		t.Errorf("tally (-want +got):\n%s", diff)
	}
	// Host outcomes are compare-and-set per host.
	if _, err := s.Apply(ctx, f, RolloutChange{Finish: []HostFinish{
		{RolloutID: "r1", HostID: "h000", From: "running", State: "succeeded", At: clk.Now()},
		{RolloutID: "r1", HostID: "h001", From: "running", State: "failed", At: clk.Now()},
		{RolloutID: "r1", HostID: "h100", From: "running", State: "failed", At: clk.Now()}, // pending: unchanged
	}}); err != nil {
		t.Fatal(err)
	}
	counts, err := s.RolloutHostCounts(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"pending": 447, "running": 1, "succeeded": 1, "failed": 1}, counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if wc, err := s.WaveCounts(ctx, "r1", 1); err != nil || !cmp.Equal(wc, map[string]int{"running": 1, "succeeded": 1, "failed": 1}) {
		t.Errorf("WaveCounts = %v, %v", wc, err)
	}
	// The host's active rollout.
	r, h, err := s.HostRollout(ctx, "h001", []string{"running", "paused"})
	if err != nil || r.ID != "r1" || h.State != "failed" || h.Wave != 1 {
		t.Errorf("HostRollout = %+v, %+v, %v", r, h, err)
	}
	if _, _, err := s.HostRollout(ctx, "h001", []string{"aborted"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("HostRollout(aborted) = %v, want ErrNotFound", err)
	}
	// A state change that finds another state applies nothing.
	_, err = s.Apply(ctx, f, RolloutChange{States: []StateChange{{ID: "r1", From: "paused", To: "running"}},
		Events: []RolloutEvent{{RolloutID: "r1", Kind: "x"}}})
	if !errors.Is(err, ErrConflict) {
		t.Errorf("CAS from wrong state: %v, want ErrConflict", err)
	}
	// The outbox.
	pending, err := s.PendingRolloutEvents(ctx)
	if err != nil || len(pending) != 1 || pending[0].Kind != "rollout.started" {
		t.Fatalf("pending events = %+v, %v", pending, err)
	}
	if _, err := s.Apply(ctx, f, RolloutChange{AuditedUpTo: []int64{pending[0].ID}}); err != nil {
		t.Fatal(err)
	}
	if pending, err := s.PendingRolloutEvents(ctx); err != nil || len(pending) != 0 {
		t.Errorf("pending after audit = %+v, %v", pending, err)
	}
	if evs, err := s.RolloutEvents(ctx, "r1"); err != nil || len(evs) != 1 || !evs[0].Audited {
		t.Errorf("RolloutEvents = %+v, %v", evs, err)
	}
	// Fencing: once b takes over, a's writes are refused and change nothing.
	clk.Advance(31 * time.Second)
	fb, ok, err := s.AcquireLease(ctx, "controller", "b", 30*time.Second)
	if err != nil || !ok || fb != fence+1 {
		t.Fatalf("b AcquireLease = %d %v %v", fb, ok, err)
	}
	_, err = s.Apply(ctx, f, RolloutChange{States: []StateChange{{ID: "r1", From: "running", To: "halted"}}})
	if !errors.Is(err, ErrLeaseLost) {
		t.Errorf("deposed write: %v, want ErrLeaseLost", err)
	}
	if r, err := s.Rollout(ctx, "r1"); err != nil || r.State != "running" {
		t.Errorf("rollout after refused write = %+v, %v", r, err)
	}
	if _, err := s.Apply(ctx, Fence{Lease: "controller", Holder: "b", Fencing: fb},
		RolloutChange{States: []StateChange{{ID: "r1", From: "running", To: "halted"}}}); err != nil {
		t.Errorf("new leader write: %v", err)
	}
	p, err := s.RolloutProgressOf(ctx, "r1")
	if err != nil || p.Wave != 1 || p.HostsTotal != 450 || !p.WaveStartedAt.Equal(clk.Now().Add(-31*time.Second)) {
		t.Errorf("progress = %+v, %v", p, err)
	}
}
