package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/agent"
	"github.com/patchbay/patchbay/engine/agent/agenttest"
	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/rollout"
	"github.com/patchbay/patchbay/engine/server"
	"github.com/patchbay/patchbay/engine/store"
)

// setClock is a settable clock shared by the server and the controller.
type setClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *setClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *setClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// liveEnv is a real server over HTTP with a real rollout controller, and a
// real agent (engine/agent over agenttest.Sim) per enrolled canary host.
type liveEnv struct {
	t      *testing.T
	e      *env
	ctl    *rollout.Controller
	clk    *setClock
	sims   map[string]*agenttest.Sim
	tokens map[string]string
	spools map[string]agent.Spool
	id     string // the canary rollout
}

// newLiveEnv serves the quickstart with canary on 2026-11, enrolls hosts
// (each reports once through its agent), merges the canary promotion with
// the ring file passed through ring, approves it and starts wave 1.
// Hosts in dry run first ask as dry runs, before the rollout starts.
func newLiveEnv(t *testing.T, hosts []string, ring func(string) string, dry ...string) *liveEnv {
	t.Helper()
	ctx := context.Background()
	g := gitrepotest.New(t)
	files := fixture.QuickstartFiles(t)
	canary := ring(files["rings/canary.cue"])
	files["rings/canary.cue"] = strings.Replace(canary, `baseline: "2026-11-hotfix-1"`, `baseline: "2026-11"`, 1)
	g.Commit("canary on 2026-11", files)
	repo, err := gitrepo.Open(g.Dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	l := &liveEnv{t: t, clk: &setClock{t: testNow}, sims: map[string]*agenttest.Sim{}, tokens: map[string]string{}, spools: map[string]agent.Spool{}}
	var srv *server.Server
	l.e = newEnv(t, func(cfg *server.Config) {
		cfg.Now = l.clk.Now
		var err error
		l.ctl, err = rollout.New(rollout.Config{Store: cfg.Store, Repo: repo,
			Inventory: rollout.InventoryFunc(func(ctx context.Context) ([]*inventory.Report, error) { return srv.Reports(ctx) }),
			Planner:   rollout.PlannerFunc(func(ctx context.Context, h store.Host) (*plan.Host, error) { return srv.HostPlan(ctx, h) }),
			Options:   rollout.Options{Now: l.clk.Now, Holder: "test", LeaseTTL: 24 * time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Assigner = l.ctl
	})
	srv = l.e.srv
	srv.EnableRollouts(l.ctl)
	reps, _ := quickstart(t)
	for _, id := range hosts {
		l.tokens[id] = l.e.enroll(id, nil)
		l.sims[id] = agenttest.New(reps[id], l.clk.Now)
		l.spools[id] = agent.Spool{Dir: t.TempDir()}
		a := l.agent(id, nil)
		if slices.Contains(dry, id) {
			a.PM = nil
		}
		if _, err := a.RunOnce(ctx); err != nil { // reports; no rollout yet
			t.Fatalf("first run of %s: %v", id, err)
		}
	}
	l.step() // adopt
	merge, _ := g.MergePR(7, "sre-platform", "promote-canary", map[string]string{"rings/canary.cue": canary})
	l.step()
	l.id = "canary-" + merge[:12]
	if code, body := l.e.do("POST", "/api/v1/rollouts/"+l.id+"/approve", l.e.adminTok, "application/json",
		[]byte(`{"reason": "liveness test"}`)); code != 200 {
		t.Fatalf("approve: %d %s", code, body)
	}
	l.step()
	return l
}

// agent is the real agent of host id; pm, when set, replaces the Sim as
// package manager.
func (l *liveEnv) agent(id string, pm agent.PackageManager) *agent.Agent {
	sim := l.sims[id]
	if pm == nil {
		pm = sim
	}
	return &agent.Agent{Client: &agent.Client{Server: l.e.ts.URL, Token: l.tokens[id], Retry: fastRetry}, HostID: id,
		Collector: sim, PM: pm, Boot: sim, Spool: l.spools[id], Now: l.clk.Now, HeartbeatEvery: 20 * time.Millisecond}
}

// finish runs host's agent until it has nothing left to do (a reboot
// is reported by the run after it).
func (l *liveEnv) finish(host string) { l.t.Helper(); l.finishWith(l.agent(host, nil)) }

func (l *liveEnv) finishWith(a *agent.Agent) {
	l.t.Helper()
	for i := 0; ; i++ {
		o, err := a.RunOnce(context.Background())
		if err != nil {
			l.t.Fatalf("run %d of %s: %v", i, a.HostID, err)
		}
		if len(o.Assignment.Actions) == 0 && !o.Rebooting {
			return
		}
		if i == 3 {
			l.t.Fatalf("%s still has work after %d runs: %+v", a.HostID, i, o.Assignment.Actions)
		}
	}
}

func (l *liveEnv) step() {
	l.t.Helper()
	if err := l.ctl.Step(context.Background()); err != nil {
		l.t.Fatalf("controller step: %v", err)
	}
}

// hosts returns the rollout's hosts in state.
func (l *liveEnv) hosts(state string) []string {
	l.t.Helper()
	hs, err := l.e.st.RolloutHosts(context.Background(), l.id, state)
	if err != nil {
		l.t.Fatal(err)
	}
	var out []string
	for _, h := range hs {
		out = append(out, h.HostID)
	}
	return out
}

// only returns the one host in state.
func (l *liveEnv) only(state string) string {
	l.t.Helper()
	hs := l.hosts(state)
	if len(hs) != 1 {
		l.t.Fatalf("%s hosts: %v, want exactly one", state, hs)
	}
	return hs[0]
}

// show is the rollout as the admin API shows it (checked against
// openapi.yaml).
func (l *liveEnv) show() api.Rollout {
	l.t.Helper()
	code, body := l.e.do("GET", "/api/v1/rollouts/"+l.id, l.e.adminTok, "", nil)
	if code != 200 {
		l.t.Fatalf("show: %d %s", code, body)
	}
	return decodeAs[api.Rollout](l.t, body)
}

func oneAtATime(maxErrors string) func(string) string {
	return func(ring string) string {
		return strings.Replace(ring, `strategy: {maxConcurrency: 2, maxErrors: 1}`, `strategy: {maxConcurrency: 1, maxErrors: `+maxErrors+`}`, 1)
	}
}

var twoCanaries = []string{"deb12-canary-02", "ubuntu-canary-01"}

// TestSilentStepReclaimed: a host whose agent fetched its actions and then
// went silent (it died) is timed out once the ring's step timeout (15m)
// has passed without a heartbeat — not after the 2 h wave timeout — and
// its slot goes to the next host.
func TestSilentStepReclaimed(t *testing.T) {
	l := newLiveEnv(t, twoCanaries, oneAtATime("1"))
	first := l.only(rollout.HostRunning)
	// The agent fetches its actions, then dies.
	code, body := l.e.do("GET", "/api/v1/hosts/"+first+"/assignment", l.tokens[first], "", nil)
	if a := decodeAs[api.Assignment](t, body); code != 200 || len(a.Actions) == 0 || a.HeartbeatSeconds <= 0 || a.HeartbeatSeconds > 60 {
		t.Fatalf("assignment of %s: %d %s", first, code, body)
	}
	l.clk.Advance(14 * time.Minute)
	l.step()
	if got := l.only(rollout.HostRunning); got != first {
		t.Fatalf("after 14m running %s, want %s (inside the step timeout)", got, first)
	}
	l.clk.Advance(2 * time.Minute)
	l.step() // reclaimed
	l.step() // the next wave
	if got := l.hosts(rollout.HostTimedOut); len(got) != 1 || got[0] != first {
		t.Fatalf("timed out %v, want [%s] after 16m without a heartbeat", got, first)
	}
	second := l.only(rollout.HostRunning)
	if second == first {
		t.Fatalf("the timed-out host %s runs again", first)
	}
	if v := l.show(); v.Hosts.TimedOut != 1 || v.Hosts.Running != 1 || v.State != rollout.StateRunning {
		t.Errorf("rollout after the reclaim: %+v", v.Hosts)
	}
	// A heartbeat of the reclaimed step is refused, saying why.
	hb := []byte(`{"rolloutId": "` + l.id + `", "phase": "install"}`)
	code, body = l.e.do("POST", "/api/v1/hosts/"+first+"/heartbeat", l.tokens[first], "application/json", hb)
	if ack := decodeAs[api.HeartbeatAck](t, body); code != 200 || ack.Recorded || !strings.Contains(ack.Reason, "timedout") {
		t.Errorf("heartbeat after the reclaim: %d %s", code, body)
	}
	// The next host's agent does its step; the rollout goes on.
	l.finish(second)
	l.step()
	if v := l.show(); v.Hosts.Succeeded != 1 || v.Hosts.TimedOut != 1 {
		t.Errorf("rollout at the end: %+v", v.Hosts)
	}
}

// blockingPM is the Sim whose transaction waits until released: a long
// package-manager run.
type blockingPM struct {
	*agenttest.Sim
	entered chan struct{}
	release chan struct{}
}

func (b *blockingPM) Install(ctx context.Context, reqs []agent.Request) (string, error) {
	close(b.entered)
	<-b.release
	return b.Sim.Install(ctx, reqs)
}

// TestHeartbeatKeepsLongStep: a host whose transaction runs for 45
// minutes keeps its slot while its agent heartbeats, well past the step
// timeout, and succeeds.
func TestHeartbeatKeepsLongStep(t *testing.T) {
	ctx := context.Background()
	l := newLiveEnv(t, twoCanaries, oneAtATime("1"))
	host := l.only(rollout.HostRunning)
	pm := &blockingPM{Sim: l.sims[host], entered: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := l.agent(host, pm).RunOnce(ctx)
		done <- err
	}()
	<-pm.entered
	for range 3 {
		l.clk.Advance(15 * time.Minute)
		waitHeartbeat(t, l, host, api.PhaseInstall)
		l.step()
		if got := l.only(rollout.HostRunning); got != host {
			t.Fatalf("running %s, want %s: a heartbeating host lost its slot", got, host)
		}
	}
	close(pm.release)
	if err := <-done; err != nil {
		t.Fatalf("step: %v", err)
	}
	l.finish(host) // the reboot the packages asked for, if any
	l.step()
	if v := l.show(); v.Hosts.Succeeded != 1 || v.Hosts.TimedOut != 0 {
		t.Errorf("after a 45-minute step: %+v", v.Hosts)
	}
}

// waitHeartbeat waits until the store holds a heartbeat of host at the
// clock's current time in phase.
func waitHeartbeat(t *testing.T, l *liveEnv, host, phase string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_, rh, err := l.e.st.HostRollout(context.Background(), host, []string{rollout.StateRunning})
		if err != nil {
			t.Fatal(err)
		}
		if rh.HeartbeatAt.Equal(l.clk.Now()) && rh.HeartbeatPhase == phase {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no %s heartbeat of %s at %s", phase, host, l.clk.Now())
}

// stuckBoot is a host that accepts the reboot command but does not come
// back (its boot id never changes).
type stuckBoot struct{ reboots int }

func (s *stuckBoot) BootID() (string, error)      { return "boot-1", nil }
func (s *stuckBoot) Reboot(context.Context) error { s.reboots++; return nil }

// TestRebootGrace: a host whose agent said it is rebooting is not
// reclaimed at the step timeout (it cannot heartbeat while it is down); it
// gets the reboot grace on top (15m), and is timed out after that when it
// does not come back.
func TestRebootGrace(t *testing.T) {
	ctx := context.Background()
	l := newLiveEnv(t, twoCanaries, func(ring string) string {
		return strings.Replace(oneAtATime("1")(ring), `reboot:           "if-required"`, `reboot:           "always"`, 1)
	})
	host := l.only(rollout.HostRunning)
	boot := &stuckBoot{}
	a := l.agent(host, nil)
	a.Boot = boot
	o, err := a.RunOnce(ctx)
	if err != nil || !o.Rebooting || boot.reboots != 1 {
		t.Fatalf("step: rebooting %t, %d reboots, %v", o.Rebooting, boot.reboots, err)
	}
	_, rh, err := l.e.st.HostRollout(ctx, host, []string{rollout.StateRunning})
	if err != nil || rh.HeartbeatPhase != api.PhaseRebooting {
		t.Fatalf("last heartbeat: %+v, %v; want phase rebooting", rh, err)
	}
	l.clk.Advance(25 * time.Minute)
	l.step()
	if got := l.only(rollout.HostRunning); got != host {
		t.Fatalf("after 25m rebooting: running %s, want %s (step timeout 15m + reboot grace 15m)", got, host)
	}
	l.clk.Advance(6 * time.Minute)
	l.step()
	if got := l.hosts(rollout.HostTimedOut); len(got) != 1 || got[0] != host {
		t.Errorf("after 31m rebooting: timed out %v, want [%s]", got, host)
	}
}

// TestDryRunHostTakesNoSlot: in a ring of concurrency 1, the host whose
// turn it is runs its agent with the dry-run executor: it is shown the
// actions (the would-be commands), hands its slot to the real host at the
// next tick, is never timed out, and is skipped when the rest is done.
func TestDryRunHostTakesNoSlot(t *testing.T) {
	ctx := context.Background()
	l := newLiveEnv(t, twoCanaries, oneAtATime("0"))
	dry := l.only(rollout.HostRunning) // the wave took it before it said it runs dry
	var real string
	for _, h := range twoCanaries {
		if h != dry {
			real = h
		}
	}
	var out bytes.Buffer
	da := l.agent(dry, nil)
	da.PM, da.Out = nil, &out // patchbay-agent run --executor dry-run
	o, err := da.RunOnce(ctx)
	if err != nil || !o.Assignment.DryRun || len(o.Assignment.Actions) == 0 || o.Skipped == 0 {
		t.Fatalf("dry run: %+v, %v", o.Assignment, err)
	}
	if !strings.Contains(out.String(), "dry-run: would run: ") {
		t.Errorf("the dry run shows no would-be commands:\n%s", out.String())
	}
	l.step()
	if got := l.only(rollout.HostRunning); got != real {
		t.Fatalf("running %s after the dry run, want the real host %s", got, real)
	}
	// Hours later, the dry-run host is still not timed out, nor in a wave.
	l.clk.Advance(3 * time.Hour)
	if _, err := da.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	l.finish(real)
	l.step()
	l.step()
	v := l.show()
	if v.Hosts.Succeeded != 1 || v.Hosts.Skipped != 1 || v.Hosts.TimedOut != 0 || v.Hosts.Failed != 0 || v.State != rollout.StateCompleted {
		t.Errorf("rollout: %s %+v, want completed with 1 succeeded and the dry-run host skipped", v.State, v.Hosts)
	}
	if n := len(l.sims[dry].Transactions); n != 0 {
		t.Errorf("the dry-run host ran %d transactions", n)
	}
	// Once soaked, ring.verified counts the real host only: the dry-run
	// host ran nothing, so it is no evidence (and no failure).
	l.clk.Advance(25 * time.Hour)
	l.step()
	if v := l.show(); v.State != rollout.StateVerified {
		t.Fatalf("rollout %s after the soak, want verified", v.State)
	}
	if rv := ringVerified(t, l); rv.HostsTotal != 1 || rv.HostsSucceeded != 1 || rv.SuccessRate != 1 {
		t.Errorf("ring.verified: %d of %d hosts, rate %v; want 1 of 1 (the dry-run host is no evidence)", rv.HostsSucceeded, rv.HostsTotal, rv.SuccessRate)
	}
	// Its agent in real mode again clears the mark.
	if _, err := l.agent(dry, nil).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if h, err := l.e.st.Host(ctx, dry); err != nil || !h.DryRunAt.IsZero() {
		t.Errorf("dry-run mark after a real run: %v, %v", h.DryRunAt, err)
	}
}

// crashAfterInstall is the Sim whose collector fails once after the
// transaction: the agent stops between applying and spooling.
type crashAfterInstall struct {
	*agenttest.Sim
	installed bool
	crashed   bool
}

func (c *crashAfterInstall) Install(ctx context.Context, reqs []agent.Request) (string, error) {
	c.installed = true
	return c.Sim.Install(ctx, reqs)
}

func (c *crashAfterInstall) Collect(ctx context.Context) (*inventory.Report, error) {
	if c.installed && !c.crashed {
		c.crashed = true
		return nil, errors.New("simulated crash: the agent was killed")
	}
	return c.Sim.Collect(ctx)
}

// TestCrashBetweenApplyAndSpool: the agent dies after the transaction,
// before its results are spooled; restarted ten minutes later it judges
// the step from the post-state, and the controller counts the host as
// succeeded — not failed, not timed out.
func TestCrashBetweenApplyAndSpool(t *testing.T) {
	ctx := context.Background()
	l := newLiveEnv(t, twoCanaries, oneAtATime("1"))
	host := l.only(rollout.HostRunning)
	c := &crashAfterInstall{Sim: l.sims[host]}
	a := l.agent(host, c)
	a.Collector = c
	if _, err := a.RunOnce(ctx); err == nil || !strings.Contains(err.Error(), "simulated crash") {
		t.Fatalf("first run: %v, want the simulated crash", err)
	}
	if !c.installed || len(l.sims[host].Transactions) != 1 {
		t.Fatalf("the transaction did not run before the crash")
	}
	l.clk.Advance(10 * time.Minute)
	l.step()
	var out bytes.Buffer
	b := l.agent(host, nil) // the restarted agent, same state directory
	b.Out = &out
	l.finishWith(b)
	if !strings.Contains(out.String(), "recovered an interrupted step") {
		t.Errorf("the restarted agent did not recover the step:\n%s", out.String())
	}
	if n := len(l.sims[host].Transactions); n != 1 {
		t.Errorf("%d transactions, want 1: the recovered step ran again", n)
	}
	l.step()
	if got := l.hosts(rollout.HostSucceeded); len(got) != 1 || got[0] != host {
		t.Errorf("succeeded %v, want [%s]", got, host)
	}
	if v := l.show(); v.Hosts.Failed != 0 || v.Hosts.TimedOut != 0 {
		t.Errorf("rollout: %+v, want no failure for the crash", v.Hosts)
	}
}

// TestHeartbeatEndpoint: a heartbeat is authenticated with the host's own
// token and bounded before it is decoded; a bad phase, a missing rollout id
// or an unknown dryRun value are refused; a heartbeat of a running host is
// recorded, one of a host that waits for its wave is not.
func TestHeartbeatEndpoint(t *testing.T) {
	l := newLiveEnv(t, twoCanaries, oneAtATime("1"))
	running := l.only(rollout.HostRunning)
	pending := l.only(rollout.HostPending)
	body := func(rollout, phase string) []byte {
		return []byte(`{"rolloutId": "` + rollout + `", "phase": "` + phase + `"}`)
	}
	for _, tt := range []struct {
		name, host, token string
		body              []byte
		want              int
		recorded          bool
	}{
		{"running host", running, l.tokens[running], body(l.id, "install"), 200, true},
		{"waiting host", pending, l.tokens[pending], body(l.id, "install"), 200, false},
		{"other rollout", running, l.tokens[running], body("canary-000000000000", "install"), 200, false},
		{"no token", running, "", body(l.id, "install"), 401, false},
		{"another host's token", running, l.tokens[pending], body(l.id, "install"), 403, false},
		{"unknown phase", running, l.tokens[running], body(l.id, "sleeping"), 400, false},
		{"no rollout id", running, l.tokens[running], body("", "install"), 400, false},
		{"too large", running, l.tokens[running], []byte(`{"rolloutId": "` + l.id + `", "phase": "install", "x": "` + strings.Repeat("a", 5000) + `"}`), 413, false},
		{"not JSON", running, l.tokens[running], []byte(`phase=install`), 400, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, b := l.e.do("POST", "/api/v1/hosts/"+tt.host+"/heartbeat", tt.token, "application/json", tt.body)
			if code != tt.want {
				t.Fatalf("%d %s, want %d", code, b, tt.want)
			}
			if code == 200 {
				if ack := decodeAs[api.HeartbeatAck](t, b); ack.Recorded != tt.recorded || (!ack.Recorded && ack.Reason == "") {
					t.Errorf("ack %+v, want recorded %t (with a reason when not)", ack, tt.recorded)
				}
			}
		})
	}
	if code, b := l.e.do("GET", "/api/v1/hosts/"+running+"/assignment?dryRun=maybe", l.tokens[running], "", nil); code != 400 {
		t.Errorf("dryRun=maybe: %d %s, want 400", code, b)
	}
}

// TestDryRunKnownBeforeWave: a host whose agent asked as a dry run before
// the rollout started is passed over by the first wave.
func TestDryRunKnownBeforeWave(t *testing.T) {
	l := newLiveEnv(t, twoCanaries, oneAtATime("0"), twoCanaries[0])
	if got := l.only(rollout.HostRunning); got != twoCanaries[1] {
		t.Fatalf("wave 1 runs %s, want %s (%s runs dry)", got, twoCanaries[1], twoCanaries[0])
	}
	l.finish(twoCanaries[1])
	l.step()
	l.step()
	if v := l.show(); v.State != rollout.StateCompleted || v.Hosts.Skipped != 1 || v.Hosts.Succeeded != 1 {
		t.Errorf("rollout: %s %+v", v.State, v.Hosts)
	}
}

// TestUnfetchedStepTimedOut: a host of a new wave whose agent never asks
// for its actions keeps its slot for the pickup timeout (30m: agents poll
// every 15m by default), not only the step timeout, and is timed out
// after it.
func TestUnfetchedStepTimedOut(t *testing.T) {
	l := newLiveEnv(t, twoCanaries, oneAtATime("1"))
	first := l.only(rollout.HostRunning)
	l.clk.Advance(29 * time.Minute)
	l.step()
	if got := l.only(rollout.HostRunning); got != first {
		t.Fatalf("after 29m: running %s, want %s", got, first)
	}
	l.clk.Advance(2 * time.Minute)
	l.step()
	if got := l.hosts(rollout.HostTimedOut); len(got) != 1 || got[0] != first {
		t.Errorf("after 31m without fetching: timed out %v, want [%s]", got, first)
	}
}

// ringVerified decodes the rollout's ring.verified record from the outbox.
func ringVerified(t *testing.T, l *liveEnv) audit.RingVerified {
	t.Helper()
	evs, err := l.e.st.RolloutEvents(context.Background(), l.id)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Kind != string(audit.KindRingVerified) {
			continue
		}
		var pl struct {
			Predicate audit.RingVerified `json:"predicate"`
		}
		if err := json.Unmarshal(e.Payload, &pl); err != nil {
			t.Fatal(err)
		}
		return pl.Predicate
	}
	t.Fatalf("no ring.verified among %d events", len(evs))
	return audit.RingVerified{}
}
