package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/api"
)

func TestRenderRollout(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 10, 0, 0, time.UTC)
	eta := now.Add(4 * time.Minute)
	ended := now.Add(-5 * time.Minute)
	r := api.Rollout{ID: "canary-3f2a9c1d0b7e", Ring: "canary", Commit: "3f2a9c1d0b7e5a6b7c8d9e0f1a2b3c4d5e6f7a8b", BaselineID: "2026-11-hotfix-1",
		BaselineDigest: "sha256:663fc2a31a02e0e5f6", State: "running", PR: 7, Wave: 2, RingHosts: 9, MaxConcurrency: 2, MaxErrors: 1,
		Hosts: api.RolloutCounts{Total: 4, Pending: 1, Running: 1, Succeeded: 1, Failed: 1}, ETA: &eta,
		Waves: []api.RolloutWave{
			{Wave: 1, Hosts: api.RolloutCounts{Total: 2, Succeeded: 1, Failed: 1}, StartedAt: now.Add(-10 * time.Minute), EndedAt: &ended},
			{Wave: 2, Hosts: api.RolloutCounts{Total: 1, Running: 1}, StartedAt: ended},
		},
		Events: []api.RolloutEvent{{Kind: "rollout.started", Actor: "controller", At: now.Add(-10 * time.Minute), Audited: true, Detail: "4 hosts"}},
	}
	var b bytes.Buffer
	if err := renderRollout(&b, r, now); err != nil {
		t.Fatal(err)
	}
	want := `rollout   canary-3f2a9c1d0b7e
ring      canary, baseline 2026-11-hotfix-1 (663fc2a31a02)
commit    3f2a9c1d0b7e (PR #7)
state     running
budget    2 hosts per wave, 1 error allowed, ring of 9 hosts
hosts     4 total: 1 succeeded, 1 failed, 0 timed out, 1 running, 1 pending, 0 cancelled
progress  [####################....................] 50%
eta       2026-11-26T12:14:00Z (in 4m0s)
WAVE  HOSTS  SUCCEEDED  FAILED  RUNNING  STARTED               ENDED
1     2      1          1       0        2026-11-26T12:00:00Z  2026-11-26T12:05:00Z
2     1      0          0       1        2026-11-26T12:05:00Z  -
event     2026-11-26T12:00:00Z rollout.started by controller 4 hosts [audited]
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("renderRollout (-want +got):\n%s", diff)
	}
	if got, want := progressLine(r, now), "canary-3f2a9c1d0b7e running wave 2: 2/4 done, 1 failed, 1 running, 1 pending, ETA 2026-11-26T12:14:00Z"; got != want {
		t.Errorf("progressLine = %q, want %q", got, want)
	}
}

func TestWatchRedrawsOnTerminal(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	states := []api.Rollout{
		{ID: "r", State: "running", Hosts: api.RolloutCounts{Total: 2, Running: 2}},
		{ID: "r", State: "running", Hosts: api.RolloutCounts{Total: 2, Running: 1, Succeeded: 1}},
		{ID: "r", State: "completed", Hosts: api.RolloutCounts{Total: 2, Succeeded: 2}},
	}
	for _, tt := range []struct {
		name   string
		tty    bool
		clears int
		lines  int
	}{
		{name: "terminal", tty: true, clears: 2, lines: 3 * 7},
		{name: "pipe", tty: false, clears: 0, lines: 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			a := &app{stdout: &out, now: func() time.Time { return now }}
			i := 0
			get := func() (api.Rollout, error) { i++; return states[i], nil }
			if err := a.watchRollout(t.Context(), states[0], get, time.Millisecond, "table", tt.tty); err != nil {
				t.Fatal(err)
			}
			if got := bytes.Count(out.Bytes(), []byte("\x1b[J")); got != tt.clears {
				t.Errorf("clears = %d, want %d\n%q", got, tt.clears, out.String())
			}
			if got := bytes.Count(out.Bytes(), []byte("\n")); got != tt.lines {
				t.Errorf("lines = %d, want %d\n%s", got, tt.lines, out.String())
			}
		})
	}
}
