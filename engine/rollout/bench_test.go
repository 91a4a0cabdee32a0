package rollout

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/fleet"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/store"
	"github.com/patchbay/patchbay/engine/store/storetest"
)

// BenchmarkControllerWave measures the controller's overhead on a rollout
// of 100,000 simulated hosts (one action each) with waves of 1,000 hosts
// (maxConcurrency 1%) on SQLite. One iteration is one wave: the simulated
// agents record 1,000 step results (as the server does, one insert each;
// not timed), then one controller Step finishes the wave's hosts, writes
// the wave's audit record and starts the next wave (timed). Reported:
// ns/op = time per wave decision, host-steps/s = the rate the controller
// alone could sustain, ctrl-tx/wave = controller store transactions per
// wave, ctrl-tx/host-step.
//
//	go test -run '^$' -bench ControllerWave -benchtime 50x ./engine/rollout/
func BenchmarkControllerWave(b *testing.B) {
	const wave = 1_000
	hosts := max(100_000, (b.N+2)*wave) // every iteration has a full wave
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clk := func() time.Time { return now }
	g := gitrepotest.New(b)
	files := fixture.QuickstartFiles(b)
	commit := g.Commit("quickstart", files)
	repo, err := gitrepo.Open(g.Dir)
	if err != nil {
		b.Fatal(err)
	}
	defer repo.Close()
	st := storetest.New(b, store.Options{Now: clk, SQLiteSynchronous: "NORMAL"})
	priv, _, _ := audit.GenerateKeyPair([]byte("pw"))
	signer, err := audit.SignerFromPEM(priv, []byte("pw"))
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(Config{Store: st, Repo: repo, Signer: signer, Options: Options{Holder: "bench", Now: clk, LeaseTTL: time.Hour}})
	if err != nil {
		b.Fatal(err)
	}
	m, err := c.modelAt(ctx, commit)
	if err != nil {
		b.Fatal(err)
	}
	bl := m.Baselines[m.Ring("canary").Baseline]
	id := "canary-bench"
	var rows []store.RolloutHost
	for i := range hosts {
		rows = append(rows, store.RolloutHost{RolloutID: id, HostID: fmt.Sprintf("h%06d", i), Seq: i + 1, Actions: 1, State: HostPending})
	}
	d := detail{RingHosts: hosts, MaxConcurrency: wave, MaxErrors: hosts / 50}
	// The adoption cursor: the controller must not process the commit.
	if _, err := st.Apply(ctx, store.Fence{}, store.RolloutChange{
		Creates:     []store.Rollout{{ID: id, Ring: "canary", Commit: commit, BaselineID: bl.ID, BaselineDigest: bl.Digest, State: StateRunning}},
		NewProgress: []store.RolloutProgress{{RolloutID: id, HostsTotal: hosts, Detail: d.encode()}},
		Hosts:       rows,
		Marks:       map[string]string{markCursor + "main": commit},
	}); err != nil {
		b.Fatal(err)
	}
	if err := c.Step(ctx); err != nil { // wave 1 starts
		b.Fatal(err)
	}
	var steps int
	w0 := c.Writes()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		running, err := st.RolloutHosts(ctx, id, HostRunning)
		if err != nil {
			b.Fatal(err)
		}
		if len(running) == 0 {
			b.Fatalf("iteration %d: no running hosts", i)
		}
		for _, h := range running {
			if _, err := st.RecordStepResult(ctx, store.StepResult{Key: store.StepKey{HostID: h.HostID, BaselineDigest: bl.Digest, Action: "upgrade openssh"},
				RolloutID: id, Status: "succeeded"}); err != nil {
				b.Fatal(err)
			}
		}
		steps += len(running)
		b.StartTimer()
		if err := c.Step(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "host-steps/s")
	tx := float64(c.Writes() - w0)
	b.ReportMetric(tx/float64(b.N), "ctrl-tx/wave")
	b.ReportMetric(tx/float64(steps), "ctrl-tx/host-step")
}

// BenchmarkRolloutStart measures what a merge costs the controller on a
// fleet of 100,000 simulated hosts (engine/fleet, 1,000 distinct package
// sets, prod ≈ 75% of them): one iteration is one merge moving prod's
// baseline (2026-10 ↔ 2026-11), and one controller Step that plans the
// fleet, creates the rollout with its host rows, supersedes the previous
// one (cancelling its pending hosts) and starts the first wave.
//
//	go test -run '^$' -bench RolloutStart -benchtime 3x ./engine/rollout/
func BenchmarkRolloutStart(b *testing.B) {
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clk := func() time.Time { return now }
	g := gitrepotest.New(b)
	files := fixture.QuickstartFiles(b)
	prod := files["rings/prod.cue"]
	g.Commit("quickstart", files)
	repo, err := gitrepo.Open(g.Dir)
	if err != nil {
		b.Fatal(err)
	}
	defer repo.Close()
	st := storetest.New(b, store.Options{Now: clk, SQLiteSynchronous: "NORMAL"})
	var seeds []*inventory.Report
	for _, name := range []string{"deb12-prod-01", "ubuntu-pilot-01", "rhel9-pilot-01", "alpine-prod-01"} {
		data, err := os.ReadFile(fixture.Path(b, "examples/quickstart/inventory/"+name+".json"))
		if err != nil {
			b.Fatal(err)
		}
		r, err := inventory.Decode(data)
		if err != nil {
			b.Fatal(err)
		}
		seeds = append(seeds, r)
	}
	head, _ := repo.Head("main")
	c, err := New(Config{Store: st, Repo: repo, Options: Options{Holder: "bench", Now: clk, LeaseTTL: time.Hour}})
	if err != nil {
		b.Fatal(err)
	}
	model, err := c.modelAt(ctx, head.String())
	if err != nil {
		b.Fatal(err)
	}
	reports, err := fleet.Generate(model, seeds, fleet.DefaultOptions(100_000, 1_000, now))
	if err != nil {
		b.Fatal(err)
	}
	c.inv = InventoryFunc(func(context.Context) ([]*inventory.Report, error) { return reports, nil })
	if err := c.Step(ctx); err != nil { // adopt
		b.Fatal(err)
	}
	var hosts int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		pin := `baseline: "2026-11"`
		if i%2 == 1 {
			pin = `baseline: "2026-10"`
		}
		g.Commit(fmt.Sprintf("prod %d", i), map[string]string{"rings/prod.cue": strings.Replace(prod, `baseline: "2026-10"`, pin, 1)})
		b.StartTimer()
		if err := c.Step(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		l, err := st.Rollouts(ctx, "prod")
		if err != nil || len(l) != i+1 {
			b.Fatalf("iteration %d: prod rollouts: %d, %v", i, len(l), err)
		}
		var open store.Rollout
		for _, r := range l {
			// A push without a gate decision starts its rollout
			// unreviewed, with every host assigned as a running one.
			if r.State == StateRunning || r.State == StateUnreviewed {
				open = r
			}
		}
		p, err := st.RolloutProgressOf(ctx, open.ID)
		if err != nil {
			b.Fatal(err)
		}
		hosts += p.HostsTotal
		b.StartTimer()
	}
	b.ReportMetric(float64(hosts)/float64(b.N), "hosts/rollout")
}
