package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/rollout"
	"github.com/patchbay/patchbay/engine/store"
	"github.com/patchbay/patchbay/engine/store/storetest"
)

// clock is a settable clock shared by the store and the controllers.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// env is a patch repository (the quickstart, canary pinned to 2026-11), a
// store, a fleet of reports and a signing key.
type env struct {
	t   testing.TB
	git *gitrepotest.Repo
	// work is the work tree's repository, where gate decisions are
	// recorded (repo may be a server's mirror of it instead).
	work    *gitrepo.Repo
	repo    *gitrepo.Repo
	st      *store.Store
	clk     *clock
	reports map[string]*inventory.Report
	signer  *audit.Signer
	pub     []byte

	mu     sync.Mutex
	models map[string]*baseline.Repository
	// assigned counts how often each action id was handed out.
	assigned map[string]int
}

// backends runs fn against SQLite and, when PATCHBAY_TEST_POSTGRES is set,
// PostgreSQL.
func backends(t *testing.T, fn func(t *testing.T, url func(testing.TB) string)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, func(tb testing.TB) string { return "sqlite://" + filepath.Join(tb.TempDir(), "patchbay.db") })
	})
	t.Run("postgres", func(t *testing.T) { t.Parallel(); fn(t, postgresURL) })
}

// canaryHosts is how many synthetic canary hosts (label ring=canary) join
// the quickstart's two.
const canaryHosts = 7

func newEnv(t testing.TB, url string) *env {
	t.Helper()
	clk := &clock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	g := gitrepotest.New(t)
	files := fixture.QuickstartFiles(t)
	files["rings/canary.cue"] = strings.Replace(files["rings/canary.cue"], `baseline: "2026-11-hotfix-1"`, `baseline: "2026-11"`, 1)
	g.Commit("quickstart, canary on 2026-11", files)
	repo, err := gitrepo.Open(g.Dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	e := &env{t: t, git: g, repo: repo, work: repo, clk: clk, reports: map[string]*inventory.Report{}, models: map[string]*baseline.Repository{},
		assigned: map[string]int{}}
	e.st = storetest.Open(t, url, store.Options{Now: clk.Now, SQLiteSynchronous: "NORMAL"})
	for _, name := range []string{"deb12-canary-01", "deb12-canary-02", "ubuntu-canary-01", "deb12-pilot-01", "deb12-pilot-02", "deb12-prod-01"} {
		e.reports[name] = readReport(t, fixture.Path(t, "examples/quickstart/inventory/"+name+".json"))
	}
	for i := range canaryHosts {
		r := readReport(t, fixture.Path(t, "examples/quickstart/inventory/deb12-canary-02.json"))
		r.HostID = fmt.Sprintf("canary-%02d", i+1)
		r.Labels = map[string]string{"ring": "canary"}
		e.reports[r.HostID] = r
	}
	k, err := envKey()
	if err != nil {
		t.Fatal(err)
	}
	e.signer, e.pub = k.signer, k.pub
	return e
}

// envKey is the signing key of every env, made once per test binary: an
// encrypted key costs two scrypt derivations (generate, then decrypt),
// which was most of a short test's time (TestHandoverLoop runs hundreds of
// envs). Which key signs does not matter to any test of this package.
var envKey = sync.OnceValues(func() (struct {
	signer *audit.Signer
	pub    []byte
}, error) {
	var k struct {
		signer *audit.Signer
		pub    []byte
	}
	priv, pub, err := audit.GenerateKeyPair([]byte("pw"))
	if err != nil {
		return k, err
	}
	k.signer, err = audit.SignerFromPEM(priv, []byte("pw"))
	k.pub = pub
	return k, err
})

func readReport(t testing.TB, path string) *inventory.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := inventory.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Reports implements rollout.Inventory.
func (e *env) Reports(context.Context) ([]*inventory.Report, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*inventory.Report
	for _, id := range e.hostIDs() {
		out = append(out, e.reports[id])
	}
	return out, nil
}

func (e *env) hostIDs() []string {
	ids := make([]string, 0, len(e.reports))
	for id := range e.reports {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// HostPlan implements rollout.HostPlanner the way the server does: the
// host's latest report against the model at the head of main.
func (e *env) HostPlan(ctx context.Context, h store.Host) (*plan.Host, error) {
	head, err := e.repo.Head("main")
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	m := e.models[head.String()]
	rep := e.reports[h.ID]
	e.mu.Unlock()
	if m == nil {
		tree, err := e.repo.TreeFS(head)
		if err != nil {
			return nil, err
		}
		if m, err = baseline.Load(ctx, fs.FS(tree), baseline.Options{Now: e.clk.Now()}); err != nil {
			return nil, err
		}
		e.mu.Lock()
		e.models[head.String()] = m
		e.mu.Unlock()
	}
	if rep == nil {
		return nil, nil
	}
	p := plan.Compute(plan.Input{Repo: m, Reports: []*inventory.Report{rep}, Now: e.clk.Now()}, plan.Options{Workers: 1})
	ph := p.Hosts.At(0)
	return &ph, nil
}

func (e *env) controller(holder string, tune func(*rollout.Options)) *rollout.Controller {
	e.t.Helper()
	o := rollout.Options{Holder: holder, Now: e.clk.Now, Tick: time.Second, LeaseTTL: 5 * time.Second}
	if tune != nil {
		tune(&o)
	}
	c, err := rollout.New(rollout.Config{Store: e.st, Repo: e.repo, Signer: e.signer, Inventory: e, Planner: e, Options: o})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// agents runs one round of simulated agents: every host asks for its
// assignment and reports each action's result (failed on hosts in fail).
// It returns the hosts that got work.
func (e *env) agents(ctx context.Context, c *rollout.Controller, fail map[string]bool) []string {
	e.t.Helper()
	var busy []string
	for _, id := range e.hostIDs() {
		a, err := c.Assignment(ctx, store.Host{ID: id}, api.AssignmentQuery{})
		if err != nil {
			e.t.Fatalf("assignment %s: %v", id, err)
		}
		if len(a.Actions) == 0 {
			continue
		}
		busy = append(busy, id)
		for _, act := range a.Actions {
			e.assigned[act.ID]++
			status := "succeeded"
			if fail[id] {
				status = "failed"
			}
			if _, err := e.st.RecordStepResult(ctx, store.StepResult{Key: store.StepKey{HostID: id, BaselineDigest: a.BaselineDigest, Action: act.Key},
				RolloutID: a.RolloutID, Status: status}); err != nil {
				e.t.Fatalf("record %s: %v", id, err)
			}
		}
	}
	return busy
}

// mergeCanary merges PR #7, which promotes 2026-11-hotfix-1 to canary,
// with a passing gate decision on its head.
func (e *env) mergeCanary() string {
	return e.mergeGated(7, "promote-canary", map[string]string{
		"rings/canary.cue": e.file("rings/canary.cue", `baseline: "2026-11"`, `baseline: "2026-11-hotfix-1"`),
	})
}

// mergeGated is gitrepotest's MergePR with a passing gate decision on the
// branch head written before the merge, as with a gated pull request.
func (e *env) mergeGated(n int, branch string, files map[string]string) string {
	e.t.Helper()
	e.git.Git("checkout", "-q", "-b", branch, "main")
	head := e.git.Commit(fmt.Sprintf("change for #%d", n), files)
	e.git.Git("checkout", "-q", "main")
	e.recordDecision(head, n, "pass")
	e.git.Git("merge", "-q", "--no-ff", "-m", fmt.Sprintf("Merge pull request #%d from sre-platform/%s\n\nchange for #%d", n, branch, n), branch)
	return e.git.Git("rev-parse", "HEAD")
}

// recordDecision writes a gate.decision signed by the controller's key on
// head, as the GitHub integration does after gating a pull request.
func (e *env) recordDecision(head string, pr int, result string) {
	e.t.Helper()
	w := &audit.Writer{Repo: e.work, Signer: e.signer, Now: e.clk.Now}
	h, err := gitrepo.ParseHash(head)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := w.Write(context.Background(), h, &audit.GateDecision{Result: result, Denies: []string{}, Warns: []string{}, PolicyBundleDigest: "sha256:" + strings.Repeat("a", 64),
		InputDigest: "sha256:" + strings.Repeat("b", 64), PR: pr, HeadSHA: head, Approvers: []string{"sre-lead", "sre-oncall"}, DecidedAt: e.clk.Now()}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) file(path, old, new string) string {
	b, err := os.ReadFile(filepath.Join(e.git.Dir, path))
	if err != nil {
		e.t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		e.t.Fatalf("%s does not contain %q", path, old)
	}
	return strings.Replace(string(b), old, new, 1)
}

func (e *env) step(ctx context.Context, c *rollout.Controller) {
	e.t.Helper()
	if err := c.Step(ctx); err != nil {
		e.t.Fatalf("step: %v", err)
	}
}

// records counts the audit records by kind (and wave for rollout.wave).
func (e *env) records(ctx context.Context) map[string]int {
	e.t.Helper()
	log, err := audit.Read(ctx, e.repo)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for _, k := range audit.Kinds() {
		for _, r := range log.Of(k) {
			out[string(k)]++
			if k == audit.KindRolloutWave {
				p, err := r.Decode()
				if err != nil {
					e.t.Fatal(err)
				}
				w := p.(*audit.RolloutWave)
				out[fmt.Sprintf("%s %s %d halted=%t", k, w.RolloutID, w.Wave, w.Halted)]++
			}
		}
	}
	return out
}

// noDuplicates fails when an action was handed out twice or an audit
// record was written twice.
func (e *env) noDuplicates(ctx context.Context) {
	e.t.Helper()
	for id, n := range e.assigned {
		if n != 1 {
			e.t.Errorf("action %s assigned %d times", id, n)
		}
	}
	for k, n := range e.records(ctx) {
		if strings.HasPrefix(k, "rollout.wave ") && !strings.Contains(k, "halted=true") && n != 1 {
			e.t.Errorf("audit record %q written %d times", k, n)
		}
	}
}

func canaryRollout(t *testing.T, ctx context.Context, c *rollout.Controller) string {
	t.Helper()
	l, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range l.Rollouts {
		if r.Ring == "canary" && r.State != rollout.StateSuperseded {
			return r.ID
		}
	}
	t.Fatalf("no canary rollout in %+v", l)
	return ""
}

func TestStartAdoptsCurrentState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, "sqlite://"+filepath.Join(t.TempDir(), "patchbay.db"))
	c := e.controller("a", nil)
	e.step(ctx, c)
	l, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Rollouts) != 0 {
		t.Errorf("first start created rollouts %+v; want none (the head moved no ring)", l.Rollouts)
	}
	// An invalid commit on main starts nothing and is reported.
	bad := e.git.Commit("broken ring", map[string]string{"rings/canary.cue": "package patchbay\nrings: canary: baseline: 42\n"})
	e.step(ctx, c)
	if l, err = c.List(ctx); err != nil || len(l.Rollouts) != 0 || l.Invalid[bad] == "" {
		t.Errorf("after invalid commit: %+v, %v; want no rollout and %s reported invalid", l, err, bad)
	}
}

func TestWavesVerifyAndGate(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, url func(testing.TB) string) {
		ctx := context.Background()
		e := newEnv(t, url(t))
		c := e.controller("a", nil)
		e.step(ctx, c) // adopt
		merge := e.mergeCanary()
		e.step(ctx, c)
		id := canaryRollout(t, ctx, c)
		v, err := c.Show(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if v.Hosts.Total < 3 || v.MaxConcurrency != 2 || v.Commit != merge || v.PR != 7 {
			t.Fatalf("rollout = %+v; want ≥ 3 hosts, maxConcurrency 2, commit %s, PR 7", v, merge)
		}
		for round := 0; round < 50; round++ {
			busy := e.agents(ctx, c, nil)
			if len(busy) > 2 {
				t.Errorf("round %d: %d hosts busy, over maxConcurrency 2: %v", round, len(busy), busy)
			}
			e.clk.Advance(time.Minute)
			e.step(ctx, c)
			if v, _ = c.Show(ctx, id); v.State != rollout.StateRunning {
				break
			}
		}
		if v.State != rollout.StateCompleted || v.Hosts.Succeeded != v.Hosts.Total {
			t.Fatalf("after the waves: %+v", v)
		}
		wantWaves := (v.Hosts.Total + 1) / 2
		if len(v.Waves) != wantWaves {
			t.Errorf("waves = %d, want %d", len(v.Waves), wantWaves)
		}
		for _, w := range v.Waves {
			if w.Hosts.Total > 2 {
				t.Errorf("wave %d has %d hosts", w.Wave, w.Hosts.Total)
			}
		}
		// Before the soak has passed: no ring.verified, the pilot
		// promotion is inconclusive.
		pilotPR := e.git.Commit("promote 2026-11-hotfix-1 to pilot", map[string]string{
			"rings/pilot.cue": e.file("rings/pilot.cue", `baseline: "2026-11"`, `baseline: "2026-11-hotfix-1"`)})
		e.git.Git("reset", "-q", "--hard", "HEAD~1") // the PR head stays reachable by hash
		if got := e.gate(ctx, merge, pilotPR, e.clk.Now().Add(73*time.Hour)); got != "inconclusive" {
			t.Errorf("gate without ring.verified = %s, want inconclusive", got)
		}
		e.clk.Advance(24 * time.Hour)
		e.step(ctx, c)
		if v, _ = c.Show(ctx, id); v.State != rollout.StateVerified {
			t.Fatalf("after the soak: state %s, hold %q", v.State, v.Hold)
		}
		recs := e.records(ctx)
		for k, want := range map[string]int{"change.merged": 1, "rollout.started": 1, "rollout.wave": wantWaves, "rollout.finished": 1, "ring.verified": 1} {
			if recs[k] != want {
				t.Errorf("%s records = %d, want %d (%v)", k, recs[k], want, recs)
			}
		}
		// Pilot's soak (72 h) counts from the verification on.
		if got := e.gate(ctx, merge, pilotPR, e.clk.Now().Add(49*time.Hour)); got != "pass" {
			t.Errorf("gate with ring.verified = %s, want pass", got)
		}
		e.noDuplicates(ctx)
	})
}

func TestHaltResumeAbort(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, url func(testing.TB) string) {
		for _, tc := range []struct {
			name      string
			resume    bool
			wantState string
		}{
			{name: "resume", resume: true, wantState: rollout.StateFailed},
			{name: "abort", wantState: rollout.StateAborted},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				e := newEnv(t, url(t))
				c := e.controller("a", nil)
				e.step(ctx, c)
				e.mergeCanary()
				e.step(ctx, c)
				id := canaryRollout(t, ctx, c)
				hosts, err := e.st.RolloutHosts(ctx, id, "")
				if err != nil {
					t.Fatal(err)
				}
				// The first wave's two hosts fail: 2 > maxErrors 1.
				fail := map[string]bool{hosts[0].HostID: true, hosts[1].HostID: true}
				e.step(ctx, c)
				e.agents(ctx, c, fail)
				e.step(ctx, c)
				v, _ := c.Show(ctx, id)
				if v.State != rollout.StateHalted || v.Hosts.Failed != 2 || v.Hosts.Pending != len(hosts)-2 {
					t.Fatalf("after failing wave: %+v", v)
				}
				for range 3 {
					e.clk.Advance(time.Minute)
					e.step(ctx, c)
					if busy := e.agents(ctx, c, fail); len(busy) != 0 {
						t.Fatalf("halted rollout assigned work to %v", busy)
					}
				}
				if !tc.resume {
					if _, err := c.Abort(ctx, id, "admin", "test"); err != nil {
						t.Fatal(err)
					}
					if _, err := c.Resume(ctx, id, "admin", "test"); !errors.Is(err, rollout.ErrState) {
						t.Errorf("resume after abort: %v, want ErrState", err)
					}
				} else if _, err := c.Resume(ctx, id, "admin", "test"); err != nil {
					t.Fatal(err)
				}
				for range 20 {
					e.clk.Advance(time.Minute)
					e.step(ctx, c)
					busy := e.agents(ctx, c, nil)
					if !tc.resume && len(busy) > 0 {
						t.Fatalf("aborted rollout assigned work to %v", busy)
					}
					if v, _ := c.Show(ctx, id); v.State != rollout.StateRunning && len(busy) == 0 {
						break
					}
				}
				v, _ = c.Show(ctx, id)
				if v.State != tc.wantState {
					t.Errorf("state %s, want %s (%+v)", v.State, tc.wantState, v)
				}
				if tc.resume && (v.Hosts.Succeeded != len(hosts)-2 || v.Hosts.Pending != 0) {
					t.Errorf("after resume: %+v", v.Hosts)
				}
				if !tc.resume && v.Hosts.Cancelled != len(hosts)-2 {
					t.Errorf("after abort: %+v", v.Hosts)
				}
				recs := e.records(ctx)
				if recs["rollout.finished"] != 1 {
					t.Errorf("rollout.finished records = %d", recs["rollout.finished"])
				}
				if recs[fmt.Sprintf("rollout.wave %s 1 halted=true", id)] != 1 {
					t.Errorf("halt record missing: %v", recs)
				}
				e.noDuplicates(ctx)
			})
		}
	})
}

func TestWindowsHoldWork(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, "sqlite://"+filepath.Join(t.TempDir(), "patchbay.db"))
	e.git.Commit("canary window 02:00-04:00 Berlin", map[string]string{"rings/canary.cue": e.file("rings/canary.cue", `soak:`,
		`windows: [{days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start: "02:00", duration: "2h", timezone: "Europe/Berlin"}]
	soak:`)})
	c := e.controller("a", func(o *rollout.Options) { o.ActionEstimate = 20 * time.Minute })
	e.step(ctx, c)
	e.mergeCanary()
	e.step(ctx, c)
	id := canaryRollout(t, ctx, c)
	if busy := e.agents(ctx, c, nil); len(busy) != 0 {
		t.Fatalf("work outside the window: %v", busy)
	}
	v, _ := c.Show(ctx, id)
	if v.Wave != 0 || !strings.HasPrefix(v.Hold, "outside maintenance window (next opens 2026-11-27T01:00:00Z)") {
		t.Errorf("before the window: wave %d, hold %q", v.Wave, v.Hold)
	}
	a, err := c.Assignment(ctx, store.Host{ID: "canary-01"}, api.AssignmentQuery{})
	if err != nil || a.Hold != rollout.HoldWave {
		t.Errorf("assignment before the window: %+v, %v", a, err)
	}
	// 02:00 Berlin is 01:00 UTC in November.
	e.clk.Set(time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC))
	e.step(ctx, c)
	if v, _ = c.Show(ctx, id); v.Wave != 1 {
		t.Fatalf("in the window: wave %d, hold %q", v.Wave, v.Hold)
	}
	// Ten minutes before the window closes, actions estimated at 20 min
	// each do not start.
	e.clk.Set(time.Date(2026, 11, 27, 2, 50, 0, 0, time.UTC))
	a, err = c.Assignment(ctx, store.Host{ID: firstHost(t, ctx, e, id)}, api.AssignmentQuery{})
	if err != nil || len(a.Actions) != 0 || !strings.HasPrefix(a.Hold, "the window closes at 2026-11-27T03:00:00Z") ||
		a.NotBefore == nil || !a.NotBefore.Equal(time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)) {
		t.Errorf("assignment near the window's end: %+v, %v", a, err)
	}
	e.clk.Set(time.Date(2026, 11, 27, 1, 5, 0, 0, time.UTC))
	if busy := e.agents(ctx, c, nil); len(busy) != 2 {
		t.Errorf("in the window: busy %v, want 2 hosts", busy)
	}
}

func firstHost(t *testing.T, ctx context.Context, e *env, id string) string {
	hosts, err := e.st.RolloutHosts(ctx, id, rollout.HostRunning)
	if err != nil || len(hosts) == 0 {
		t.Fatalf("running hosts: %v %v", hosts, err)
	}
	return hosts[0].HostID
}

// TestCrashAndHandover kills the leader mid-rollout (its context is
// cancelled and it is dropped) and lets a second replica take over on the
// same database: no action is assigned twice and no record written twice;
// the deposed leader's writes are refused.
func TestCrashAndHandover(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, url func(testing.TB) string) {
		e := newEnv(t, url(t))
		ctxA, killA := context.WithCancel(context.Background())
		a := e.controller("a", nil)
		b := e.controller("b", nil)
		e.step(ctxA, a)
		e.mergeCanary()
		e.step(ctxA, a)
		ctx := context.Background()
		if err := b.Step(ctx); !errors.Is(err, rollout.ErrNotLeader) {
			t.Fatalf("b while a leads: %v, want ErrNotLeader", err)
		}
		id := canaryRollout(t, ctx, a)
		e.step(ctxA, a)
		e.agents(ctx, a, nil)
		e.step(ctxA, a) // wave 1 ends, wave 2 starts
		killA()
		if err := a.Step(ctxA); err == nil {
			t.Fatal("a step after kill succeeded")
		}
		a = nil
		// b takes over once a's lease expires.
		e.clk.Advance(6 * time.Second)
		for range 30 {
			e.step(ctx, b)
			e.agents(ctx, b, nil)
			e.clk.Advance(time.Minute)
			if v, _ := b.Show(ctx, id); v.State == rollout.StateCompleted {
				break
			}
		}
		e.clk.Advance(25 * time.Hour)
		e.step(ctx, b)
		v, err := b.Show(ctx, id)
		if err != nil || v.State != rollout.StateVerified {
			t.Fatalf("after handover: %+v, %v", v, err)
		}
		recs := e.records(ctx)
		for _, k := range []string{"change.merged", "rollout.started", "rollout.finished", "ring.verified"} {
			if recs[k] != 1 {
				t.Errorf("%s records = %d, want 1", k, recs[k])
			}
		}
		e.noDuplicates(ctx)
		// A third replica competing now is refused; b's lease holds.
		c := e.controller("c", nil)
		if err := c.Step(ctx); !errors.Is(err, rollout.ErrNotLeader) {
			t.Errorf("c while b leads: %v", err)
		}
	})
}

// TestSupersede merges a second canary change while the first rolls out:
// the first is superseded, never two active rollouts for the ring.
func TestSupersede(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, "sqlite://"+filepath.Join(t.TempDir(), "patchbay.db"))
	c := e.controller("a", nil)
	e.step(ctx, c)
	e.mergeCanary()
	e.step(ctx, c)
	first := canaryRollout(t, ctx, c)
	e.step(ctx, c)
	e.agents(ctx, c, nil)
	e.clk.Advance(time.Minute) // the lists are newest first
	e.mergeGated(8, "back-to-2026-11", map[string]string{
		"rings/canary.cue": e.file("rings/canary.cue", `baseline: "2026-11-hotfix-1"`, `baseline: "2026-11"`)})
	e.step(ctx, c)
	l, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The list's order is by creation time, which two merges within one
	// tick share: find the rollouts by id.
	var states []string
	byID := map[string]string{}
	for _, r := range l.Rollouts {
		states = append(states, r.ID+"="+r.State)
		byID[r.ID] = r.State
	}
	active := 0
	for id, st := range byID {
		if id != first && slices.Contains([]string{rollout.StateRunning, rollout.StateCompleted}, st) {
			active++
		}
	}
	if len(l.Rollouts) != 2 || byID[first] != rollout.StateSuperseded || active != 1 {
		t.Errorf("rollouts = %v", states)
	}
}

// TestRunHandoverRealTime runs two replicas' controllers with Run (real
// clock, 50 ms ticks, 1 s lease) on separate store handles of one
// database, kills the leader mid-rollout, moves the clock past its lease,
// and checks that the other takes over and finishes without a step
// assigned twice or a record written twice.
func TestRunHandoverRealTime(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, url func(testing.TB) string) { runHandover(t, url(t)) })
}

// runHandover is TestRunHandoverRealTime's story on the database at u.
func runHandover(t *testing.T, u string) {
	e := newEnv(t, u)
	// The clock is real time plus a skip: the dead leader's lease expires
	// by moving the clock past it, not by waiting a lease TTL out.
	var skip atomic.Int64
	real := func() time.Time { return time.Now().UTC().Add(time.Duration(skip.Load())) }
	e.clk.Set(real())
	st2 := storetest.Open(t, u, store.Options{Now: real})
	const leaseTTL = time.Second
	opts := func(holder string) rollout.Options {
		return rollout.Options{Holder: holder, Now: real, Tick: 50 * time.Millisecond, LeaseTTL: leaseTTL}
	}
	newCtl := func(st *store.Store, holder string) *rollout.Controller {
		c, err := rollout.New(rollout.Config{Store: st, Repo: e.repo, Signer: e.signer, Inventory: e, Planner: e, Options: opts(holder)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// The env's store uses the settable clock; keep it at real time.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				e.clk.Set(real())
			}
		}
	}()
	a, b := newCtl(e.st, "a"), newCtl(st2, "b")
	ctxA, killA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	doneA := make(chan struct{})
	go func() { a.Run(ctxA); close(doneA) }()
	waitFor(t, "a leads", func() bool { return a.Leader() })
	go b.Run(ctxB)
	e.mergeCanary()
	ctx := context.Background()
	waitFor(t, "rollout created", func() bool {
		l, err := b.List(ctx)
		return err == nil && len(l.Rollouts) == 1
	})
	id := canaryRollout(t, ctx, b)
	waitFor(t, "wave 1", func() bool { v, _ := b.Show(ctx, id); return v.Wave >= 1 })
	e.agents(ctx, b, nil) // the agents ask any replica
	waitFor(t, "wave 2", func() bool { v, _ := b.Show(ctx, id); return v.Wave >= 2 })
	killA()
	<-doneA
	skip.Add(int64(leaseTTL))
	e.clk.Set(real())
	killed := time.Now()
	waitFor(t, "b leads", func() bool { return b.Leader() })
	if d := time.Since(killed); d > 5*time.Second {
		t.Errorf("takeover took %s", d)
	}
	waitFor(t, "rollout completed", func() bool {
		e.agents(ctx, b, nil)
		v, _ := b.Show(ctx, id)
		return v.State == rollout.StateCompleted
	})
	waitFor(t, "records written", func() bool {
		evs, _ := e.st.PendingRolloutEvents(ctx)
		return len(evs) == 0
	})
	recs := e.records(ctx)
	for _, k := range []string{"change.merged", "rollout.started", "rollout.finished"} {
		if recs[k] != 1 {
			t.Errorf("%s records = %d, want 1", k, recs[k])
		}
	}
	e.noDuplicates(ctx)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMergeFacts checks where change.merged takes the pull request's facts
// from: the hint, else the gate.decision on the merged head, else the merge
// message.
func TestMergeFacts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		hint     bool
		decision bool
		want     audit.ChangeMerged
	}{
		{name: "message only", want: audit.ChangeMerged{PR: 7, Author: "sre-platform", Approvers: []string{}}},
		{name: "gate decision", decision: true, want: audit.ChangeMerged{PR: 7, Author: "sre-platform", Approvers: []string{"sre-lead", "sre-oncall"}}},
		{name: "hint", hint: true, decision: true, want: audit.ChangeMerged{PR: 70, Author: "alice", Approvers: []string{"bob"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, "sqlite://"+filepath.Join(t.TempDir(), "patchbay.db"))
			c := e.controller("a", nil)
			e.step(ctx, c)
			e.git.Git("checkout", "-q", "-b", "promote", "main")
			head := e.git.Commit("promote", map[string]string{"rings/canary.cue": e.file("rings/canary.cue", `baseline: "2026-11"`, `baseline: "2026-11-hotfix-1"`)})
			e.git.Git("checkout", "-q", "main")
			if tc.decision {
				w := &audit.Writer{Repo: e.repo, Signer: e.signer, Now: e.clk.Now}
				h, _ := gitrepo.ParseHash(head)
				if _, err := w.Write(ctx, h, &audit.GateDecision{Result: "pass", Denies: []string{}, Warns: []string{}, PolicyBundleDigest: "sha256:" + strings.Repeat("a", 64),
					InputDigest: "sha256:" + strings.Repeat("b", 64), PR: 7, HeadSHA: head, Approvers: []string{"sre-lead", "sre-oncall"}, DecidedAt: e.clk.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			e.git.Git("merge", "-q", "--no-ff", "-m", "Merge pull request #7 from sre-platform/promote", "promote")
			merge := e.git.Git("rev-parse", "HEAD")
			if tc.hint {
				if err := c.Hint(ctx, rollout.Hint{Commit: merge, PR: 70, HeadSHA: head, Author: "alice", Approvers: []string{"bob"}}); err != nil {
					t.Fatal(err)
				}
			}
			e.step(ctx, c)
			log, err := audit.Read(ctx, e.repo)
			if err != nil {
				t.Fatal(err)
			}
			recs := log.Of(audit.KindChangeMerged)
			if len(recs) != 1 {
				t.Fatalf("change.merged records: %d", len(recs))
			}
			p, err := recs[0].Decode()
			if err != nil {
				t.Fatal(err)
			}
			got := *p.(*audit.ChangeMerged)
			if got.MergeCommit != merge || got.HeadCommit != head || got.BaseCommit == "" || !strings.HasPrefix(got.EffectDigest, "sha256:") {
				t.Errorf("commits and effect: %+v", got)
			}
			got.MergeCommit, got.HeadCommit, got.BaseCommit, got.EffectDigest, got.MergedAt = "", "", "", "", time.Time{}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("change.merged (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLateJoiner adds a canary host that reports after the rollout
// started: within JoinEvery it becomes a pending host of the rollout and
// gets its actions in a later wave.
func TestLateJoiner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, "sqlite://"+filepath.Join(t.TempDir(), "patchbay.db"))
	c := e.controller("a", nil)
	e.step(ctx, c)
	e.mergeCanary()
	e.step(ctx, c)
	id := canaryRollout(t, ctx, c)
	before, _ := c.Show(ctx, id)
	late := readReport(t, fixture.Path(t, "examples/quickstart/inventory/deb12-canary-02.json"))
	late.HostID, late.Labels = "canary-late", map[string]string{"ring": "canary"}
	e.mu.Lock()
	e.reports[late.HostID] = late
	e.mu.Unlock()
	got := false
	for range 20 {
		e.clk.Advance(time.Minute)
		e.step(ctx, c)
		if slices.Contains(e.agents(ctx, c, nil), "canary-late") {
			got = true
		}
	}
	after, _ := c.Show(ctx, id)
	if !got || after.Hosts.Total != before.Hosts.Total+1 || after.State != rollout.StateCompleted {
		t.Errorf("late joiner: got work %t; hosts %d → %d; state %s", got, before.Hosts.Total, after.Hosts.Total, after.State)
	}
	e.noDuplicates(ctx)
}
