package server_test

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/agent"
	"github.com/patchbay/patchbay/engine/agent/agenttest"
	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/server"
)

var fastRetry = agent.Retry{Attempts: 20, Base: 5 * time.Millisecond, Max: 100 * time.Millisecond}

// TestConverge runs the server and one in-process agent per quickstart
// host, each over a simulated package manager seeded from the host's real
// report, until no host has work left: at the end every host a ring
// selects is compliant with its ring's baseline.
func TestConverge(t *testing.T) {
	e := newEnv(t)
	reps, _ := quickstart(t)
	before, err := e.srv.FleetPlan(context.Background(), plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if before.Stats.Hosts != 0 {
		t.Fatalf("fresh server plans %d hosts", before.Stats.Hosts)
	}
	agents := map[string]*agent.Agent{}
	sims := map[string]*agenttest.Sim{}
	for id, r := range reps {
		tok := e.enroll(id, nil)
		sims[id] = agenttest.New(r, clock)
		agents[id] = &agent.Agent{Client: &agent.Client{Server: e.ts.URL, Token: tok, Retry: fastRetry}, HostID: id,
			Collector: sims[id], PM: sims[id], Boot: sims[id], Spool: agent.Spool{Dir: t.TempDir()}, Now: clock}
	}
	nonCompliant := func() []string {
		p, err := e.srv.FleetPlan(context.Background(), plan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range p.Hosts.All() {
			if h.Ring != "" && h.Status != plan.Compliant {
				out = append(out, h.ID+":"+string(h.Status))
			}
		}
		sort.Strings(out)
		return out
	}
	var sent atomic.Int64
	for round := 1; round <= 3; round++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []error
		for id, a := range agents {
			wg.Go(func() {
				out, err := a.RunOnce(context.Background())
				sent.Add(int64(len(out.Results)))
				if err != nil {
					mu.Lock()
					errs = append(errs, errors.New(id+": "+err.Error()))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("round %d: %v", round, errs)
		}
		if round == 1 && len(nonCompliant()) != 0 {
			t.Logf("after round 1: %v", nonCompliant())
		}
	}
	if nc := nonCompliant(); len(nc) != 0 {
		t.Errorf("hosts still not compliant: %v", nc)
	}
	// Every applied action was recorded once, as succeeded.
	if sent.Load() == 0 {
		t.Fatal("no action was applied: the test fleet had nothing to converge")
	}
	var recorded int
	rollouts, err := e.st.Rollouts(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rollouts {
		steps, err := e.st.Steps(context.Background(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range steps {
			if s.Status != api.OutcomeSucceeded {
				t.Errorf("step %v: %s", s.Key, s.Status)
			}
		}
		recorded += len(steps)
	}
	if int64(recorded) != sent.Load() {
		t.Errorf("%d steps recorded, %d results sent", recorded, sent.Load())
	}
	// Unassigned and ambiguous hosts got nothing to do.
	for _, id := range []string{"deb12-lab-01", "deb12-mixed-01"} {
		if n := len(sims[id].Transactions); n != 0 {
			t.Errorf("%s (outside every ring) ran %d transactions", id, n)
		}
	}
}

// TestSpoolSurvivesOutage: results of an agent whose server is gone stay
// in the spool, survive a new Agent value (a restart), and are recorded
// exactly once when the server is back.
func TestSpoolSurvivesOutage(t *testing.T) {
	e := newEnv(t)
	reps, _ := quickstart(t)
	id := "deb12-pilot-01"
	tok := e.enroll(id, nil)
	sim := agenttest.New(reps[id], clock)
	spool := agent.Spool{Dir: t.TempDir()}
	// A transport that fails every results call, like a network outage
	// right after the post-state report.
	tr := &failResults{next: http.DefaultTransport}
	a := &agent.Agent{Client: &agent.Client{Server: e.ts.URL, Token: tok, Retry: agent.Retry{Attempts: 2, Base: time.Millisecond, Max: time.Millisecond},
		HTTP: &http.Client{Transport: tr}}, HostID: id, Collector: sim, PM: sim, Boot: sim, Spool: spool, Now: clock}
	if _, err := a.RunOnce(context.Background()); !errors.Is(err, agent.ErrUnreachable) {
		t.Fatalf("RunOnce during the outage: %v, want ErrUnreachable", err)
	}
	pending, err := spool.Pending()
	if err != nil || len(pending) != 1 {
		t.Fatalf("spool: %d files, %v", len(pending), err)
	}
	// Restart: a new agent, same state dir, network back. Deliver twice
	// (the second finds nothing); then redeliver the same request by hand.
	var req api.ResultsRequest
	for _, r := range pending {
		req = r
	}
	b := &agent.Agent{Client: &agent.Client{Server: e.ts.URL, Token: tok, Retry: fastRetry}, HostID: id, Collector: sim, PM: sim, Boot: sim, Spool: spool, Now: clock}
	for range 2 {
		if err := b.Deliver(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if p, _ := spool.Pending(); len(p) != 0 {
		t.Errorf("spool not emptied: %d", len(p))
	}
	resp, err := b.Client.Results(context.Background(), id, req)
	if err != nil || resp.Duplicates != len(req.Results) || resp.Recorded != 0 {
		t.Errorf("redelivery: %+v %v", resp, err)
	}
	steps, err := e.st.Steps(context.Background(), server.ImplicitRolloutPrefix+req.Results[0].BaselineDigest)
	if err != nil || len(steps) != len(req.Results) {
		t.Errorf("steps: %d, want %d (%v)", len(steps), len(req.Results), err)
	}
}

type failResults struct{ next http.RoundTripper }

func (f *failResults) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && len(r.URL.Path) > 8 && r.URL.Path[len(r.URL.Path)-8:] == "/results" {
		return nil, errors.New("simulated outage")
	}
	return f.next.RoundTrip(r)
}

// TestRestartLosesNoAcknowledgedReport sends reports from many goroutines
// while the server is closed and reopened on the same SQLite file: every
// report the server acknowledged is in the store afterwards.
func TestRestartLosesNoAcknowledgedReport(t *testing.T) {
	e := newEnv(t)
	reps, _ := quickstart(t)
	toks := map[string]string{}
	for id := range reps {
		toks[id] = e.enroll(id, nil)
	}
	type ack struct {
		host string
		id   int64
	}
	var (
		mu    sync.Mutex
		acked []ack
	)
	url := func() string { mu.Lock(); defer mu.Unlock(); return e.ts.URL }
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for id := range reps {
		wg.Go(func() {
			c := &agent.Client{Token: toks[id], Retry: agent.Retry{Attempts: 1}}
			for ctx.Err() == nil {
				c.Server = url()
				a, _, err := c.Report(ctx, reps[id])
				if err != nil && ctx.Err() == nil && testing.Verbose() {
					t.Logf("%s: %v", id, err)
				}
				if err == nil {
					mu.Lock()
					acked = append(acked, ack{id, a.ReportID})
					mu.Unlock()
				}
			}
		})
	}
	// Wait for progress rather than for a fixed time, so that a slow
	// machine (the race detector, a busy CI) still exercises both servers.
	ackedAtLeast := func(n int) {
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			got := len(acked)
			mu.Unlock()
			if got >= n {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	ackedAtLeast(2 * len(reps))
	mu.Lock()
	e.ts.CloseClientConnections()
	e.stop()
	n := len(acked)
	e.start()
	mu.Unlock()
	ackedAtLeast(n + 2*len(reps))
	cancel()
	wg.Wait()
	if n == 0 || len(acked) == n {
		t.Fatalf("acked %d before the restart, %d in all: the test did not exercise both servers", n, len(acked))
	}
	// Reports whose set did not change are pruned to the retention: check
	// each host's newest acknowledged report is stored and no acknowledged
	// id is newer than the newest stored one.
	newest := map[string]int64{}
	for _, a := range acked {
		newest[a.host] = max(newest[a.host], a.id)
	}
	for host, want := range newest {
		rs, err := e.st.Reports(context.Background(), host, 1)
		if err != nil || len(rs) == 0 || rs[0].ID < want {
			t.Errorf("%s: newest acknowledged report %d, stored %+v (%v)", host, want, rs, err)
		}
	}
}
