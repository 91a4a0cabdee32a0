package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/agent"
	"github.com/patchbay/patchbay/engine/agent/agenttest"
	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/change"
	"github.com/patchbay/patchbay/engine/fleet"
	"github.com/patchbay/patchbay/engine/gate"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/history"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/plural"
	"github.com/patchbay/patchbay/engine/render"
	"github.com/patchbay/patchbay/engine/rollout"
	"github.com/patchbay/patchbay/engine/server"
	"github.com/patchbay/patchbay/engine/store"
	"github.com/patchbay/patchbay/examples"
)

func (a *app) newDemoCmd() *cobra.Command {
	var (
		hosts     int
		dir       string
		serveAddr string
		serve     bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole story on embedded defaults: PR, gate, rollout, evidence, audit",
		Long: `Demo runs patchbay's whole story in one process, with nothing to install:

  1. a patch repository: a real Git repository made from examples/quickstart,
     with canary still on baseline 2026-11 and a fresh signing key trusted
  2. the server on SQLite, with the rollout controller
  3. a simulated fleet of --hosts agents (SIMULATED package managers over
     package lists derived from real ones; nothing on this machine changes)
     that enroll and report
  4. pull request #1 promotes the hotfix 2026-11-hotfix-1 to canary: the gate
     decides, the decision is signed into the audit trail, the PR is merged
  5. the controller rolls canary out in waves of maxConcurrency; the agents
     apply their assignments and report the post-state
  6. the simulated clock moves past canary's soak: a signed ring.verified
     record lands in Git notes
  7. pull request #2 promotes the hotfix to pilot: the gate reads canary's
     verified evidence (with its tested set) and passes
  8. pilot rolls out: its hosts receive exactly the versions canary verified
     (the tested set), reboot where the ring's policy says so, and two
     hosts whose health check fails after patching halt it (maxErrors 1)
  9. from advisory to merged baseline: a feed server in this process serves a
     SIMULATED advisory (real OSV format); the cache syncs it, the monthly
     proposal cycle matches the fleet's stored reports, proposes a baseline,
     and opens its pull request (GitHub SIMULATED by the local repository:
     branch, commit, a signed cycle.proposal record); the gate evaluates
     pull request #3 and it merges
 10. the audit log, and a verification of the whole signed chain

It prints progress as it goes, each step with the time it took. With --serve
the server keeps running at the end (Ctrl-C stops it) so you can query it:
the dashboard, /openapi.yaml and /metrics. The simulated clock starts at
--now (default: the example's date, 2026-11-26T09:00:00Z, so the demo tells
the same story on any day) and runs in real time; only soak time is skipped.
With --serve it starts a month earlier instead, and after the story the
fleet lives through 30 simulated days (compressed: a day per step, the
agents report and the controller runs each day), so the dashboard's trend
charts have a month of history.

Without --dir the demo works in a temporary directory and removes it at the
end; with --dir it keeps the patch repository, the database, the signing key
and fleet.jsonl (the simulated hosts' last reports) there, and prints the
commands to look at them.`,
		Example: `  patchbay demo
  patchbay demo --hosts 500 --dir ./demo --serve`,
		Args: noArgs,
	}
	cmd.Flags().IntVar(&hosts, "hosts", 300, "simulated hosts")
	cmd.Flags().StringVar(&dir, "dir", "", "where to create the patch repository and database (default: a new temporary directory)")
	cmd.Flags().BoolVar(&serve, "serve", false, "keep the server running at the end")
	cmd.Flags().StringVar(&serveAddr, "listen", "127.0.0.1:0", "server address")
	var nowFlag string
	cmd.Flags().StringVar(&nowFlag, "now", demoEpoch, "where the simulated clock starts (RFC 3339)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if hosts < 10 || hosts > 5000 {
			return usageError("--hosts must be between 10 and 5000")
		}
		start, err := time.Parse(time.RFC3339, nowFlag)
		if err != nil {
			return usageError("--now %q: want RFC 3339, e.g. 2026-11-26T09:00:00Z", nowFlag)
		}
		kept := dir != ""
		if !kept {
			d, err := os.MkdirTemp("", "patchbay-demo-")
			if err != nil {
				return err
			}
			dir = d
			defer os.RemoveAll(dir)
		} else if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		d := &demo{a: a, w: a.stdout, dir: dir, kept: kept, hosts: hosts, start: time.Now(), last: time.Now(), self: a.selfCommand()}
		d.clock.base = start.UTC()
		if serve {
			// Start a month earlier, so that the served dashboard shows 30
			// simulated days of history by the time the story ends.
			d.clock.base = d.clock.base.AddDate(0, 0, -historyDays-4)
		}
		return d.run(cmd.Context(), serveAddr, serve)
	}
	return cmd
}

// demoEpoch is the demo's default start: the day after the quickstart's
// inventory was collected, before its exception expires.
const demoEpoch = "2026-11-26T09:00:00Z"

// demoClock is real time plus a skip the demo advances to pass soak time.
type demoClock struct {
	base time.Time
	skip atomic.Int64
	real time.Time
}

func (c *demoClock) now() time.Time {
	return c.base.Add(time.Since(c.real) + time.Duration(c.skip.Load()))
}

type demo struct {
	a     *app
	w     io.Writer
	dir   string
	kept  bool // --dir given: the directory stays
	hosts int
	start time.Time
	last  time.Time // when the previous step began
	self  string    // how to run patchbay again ("patchbay" or "go run ./cmd/patchbay")
	clock demoClock

	repo    *gitrepo.Repo
	repoDir string
	models  *server.Reloader
	signer  *audit.Signer
	who     gitrepo.Signature
	st      *store.Store
	srv     *server.Server
	ctl     *rollout.Controller
	url     string
	admin   string
	agents  []*agent.Agent
	sims    []*agenttest.Sim
	eval    *change.Evaluator
	// received collects, per ring, the exact versions the agents were
	// assigned from a tested set (package → version).
	recvMu   sync.Mutex
	received map[string]map[string]string
	step     int
	tested   []audit.TestedVersion
}

// reboots counts the simulated hosts' restarts so far.
// heartbeats counts the heartbeats the server recorded from the agents
// (each sends them while it works on a step, as the real agent does).
func (d *demo) heartbeats() int64 {
	var n int64
	for _, a := range d.agents {
		n += a.Heartbeats()
	}
	return n
}

func (d *demo) reboots() int {
	n := 0
	for _, s := range d.sims {
		if s != nil {
			n += s.Reboots
		}
	}
	return n
}

// showTested picks the tested-set entries worth printing: debian-12's,
// at most 8.
func (d *demo) showTested() []audit.TestedVersion {
	var out []audit.TestedVersion
	for _, tv := range d.tested {
		if tv.Stream == "debian-12" && len(out) < 8 {
			out = append(out, tv)
		}
	}
	return out
}

const demoSteps = 10

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.w, "        "+format+"\n", args...)
}

func (d *demo) begin(title string) {
	d.endStep()
	d.step++
	d.last = time.Now()
	fmt.Fprintf(d.w, "\n[%d/%d] %s\n", d.step, demoSteps, title)
}

// endStep prints how long the step that just finished took.
// tick runs one controller tick. The demo's clock jumps (soak, windows,
// days of history): a jump while the controller holds its lease lapses
// it, and the tick ends with store.ErrLeaseLost as a real leader's would
// after a pause. Like the controller's own loop, the demo takes the lease
// again on the next tick (with a new fencing token) instead of failing.
func (d *demo) tick(ctx context.Context) error {
	for try := 1; ; try++ {
		err := d.ctl.Step(ctx)
		if err == nil || errors.Is(err, rollout.ErrNotLeader) {
			return nil
		}
		if !errors.Is(err, store.ErrLeaseLost) || try == 3 {
			return err
		}
	}
}

func (d *demo) endStep() {
	if d.step > 0 {
		fmt.Fprintf(d.w, "        (step %d took %.1fs)\n", d.step, time.Since(d.last).Seconds())
	}
}

func (d *demo) run(ctx context.Context, listen string, keep bool) error {
	d.clock.real = time.Now()
	d.who = gitrepo.Signature{Name: "sre-platform", Email: "sre-platform@example.invalid"}
	d.eval = change.NewEvaluator()
	fmt.Fprintf(d.w, "patchbay demo — everything runs in this process; the fleet is SIMULATED (no package on this machine changes)\nworking directory: %s\n", d.dir)

	d.begin("patch repository: a Git repository from examples/quickstart")
	if err := d.makeRepo(ctx); err != nil {
		return err
	}
	defer d.repo.Close()

	d.begin("server on SQLite with the rollout controller")
	srvCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServer()
	serveDone, err := d.startServer(srvCtx, listen)
	if err != nil {
		return err
	}
	defer d.st.Close()

	d.begin(fmt.Sprintf("a simulated fleet of %d hosts enrolls and reports", d.hosts))
	if err := d.startFleet(ctx); err != nil {
		return err
	}
	if err := d.printPlan(ctx); err != nil {
		return err
	}

	d.begin("pull request #1: promote 2026-11-hotfix-1 to canary")
	if _, err := d.pullRequest(ctx, 1, "canary", "sre-platform/canary-hotfix", []string{"sre-lead"}, true); err != nil {
		return err
	}

	d.begin("the controller rolls canary out; agents apply their assignments")
	r, err := d.rollOut(ctx, "canary", false)
	if err != nil {
		return err
	}

	d.begin("canary soaks; the controller verifies the ring")
	if err := d.soak(ctx, r, "pilot"); err != nil {
		return err
	}

	d.begin("pull request #2: promote 2026-11-hotfix-1 to pilot")
	res, err := d.pullRequest(ctx, 2, "pilot", "sre-platform/pilot-hotfix", []string{"sre-lead", "sre-oncall"}, true)
	if err != nil {
		return err
	}
	if res.Decision.Result != gate.Pass {
		return fmt.Errorf("demo: the pilot promotion should pass with canary's evidence, got %s", res.Decision.Result)
	}
	if err := d.tick(ctx); err != nil {
		return err
	}
	if list, err := d.ctl.List(ctx); err == nil {
		for _, r := range list.Rollouts {
			if r.Ring == "pilot" && r.BaselineID == "2026-11-hotfix-1" {
				hold := r.Hold
				if hold == "" {
					hold = "releasing wave 1"
				}
				d.say("pilot rollout %s created for %d of %s: %s", r.ID, r.Hosts.Total, plural.Count(r.RingHosts, "host"), hold)
			}
		}
	}

	d.begin("pilot rolls out the tested set; a failing health check halts it")
	if err := d.pilot(ctx); err != nil {
		return err
	}

	d.begin("from advisory to merged baseline: sync, match, propose, pull request, gate, merge")
	if err := d.advisories(ctx); err != nil {
		return err
	}

	d.begin("the audit trail")
	if err := d.audit(ctx); err != nil {
		return err
	}
	fleetFile := filepath.Join(d.dir, "fleet.jsonl")
	if err := d.writeFleet(ctx, fleetFile); err != nil {
		return err
	}
	d.endStep()
	fmt.Fprintf(d.w, "\ndone in %.1fs.\n", time.Since(d.start).Seconds())
	if d.kept {
		fmt.Fprintf(d.w, "The patch repository, database, signing key and the simulated fleet's last reports are in %s. Look at them with:\n", d.dir)
		fmt.Fprintf(d.w, "  %s audit log -C %s\n", d.self, shellQuote(d.repoDir))
		fmt.Fprintf(d.w, "  %s plan -C %s --inventory %s --now %s\n", d.self, shellQuote(d.repoDir), shellQuote(fleetFile), d.clock.now().Format(time.RFC3339))
	} else {
		fmt.Fprintf(d.w, "The temporary directory is removed on exit; to keep the repository, database and the %d simulated hosts' reports, run:\n  %s demo --dir ./demo\n", d.hosts, d.self)
	}
	if d.self != "patchbay" {
		fmt.Fprintf(d.w, "(patchbay is not on PATH: 'make build' puts it in ./bin/)\n")
	}
	if keep {
		if err := d.history(ctx); err != nil {
			return err
		}
		// The controller keeps ticking, so that admin actions (rollout
		// pause/resume/abort) take effect and their records are written.
		go d.ctl.Run(srvCtx) //nolint:errcheck // Run logs its errors and returns nil
		fmt.Fprintf(d.w, "\nthe server keeps running at %s (Ctrl-C stops it)\n  dashboard: open %s/ and sign in with the admin token %s\n  API:       curl -H 'Authorization: Bearer %s' %s/api/v1/rollouts\n", d.url, d.url, d.admin, d.admin, d.url)
		<-ctx.Done()
	}
	stopServer()
	<-serveDone
	return nil
}

// writeFleet writes the simulated hosts' current reports as JSON lines, the
// form `patchbay plan --inventory` reads.
func (d *demo) writeFleet(ctx context.Context, path string) error {
	var b bytes.Buffer
	for _, ag := range d.agents {
		r, err := ag.Collector.Collect(ctx)
		if err != nil {
			return fmt.Errorf("demo: collect %s: %w", ag.HostID, err)
		}
		line, err := json.Marshal(r)
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// historyDays is how many simulated days demo --serve lives through.
const historyDays = 30

// history moves the simulated clock a day at a time up to the real time:
// each day the agents report, the controller runs and the day's roll-ups
// are written — the history the dashboard's trend charts draw.
func (d *demo) history(ctx context.Context) error {
	fmt.Fprintf(d.w, "\nliving through up to %d simulated days for the dashboard's history\n", historyDays)
	if err := d.srv.RollupHistory(ctx); err != nil {
		return err
	}
	days := 0
	for ; days < historyDays && d.clock.now().Add(24*time.Hour).Before(time.Now()); days++ {
		d.clock.skip.Add(int64(24 * time.Hour))
		for range 3 {
			if err := d.tick(ctx); err != nil {
				return err
			}
			if _, err := d.round(ctx); err != nil {
				return err
			}
		}
		if err := d.srv.RollupHistory(ctx); err != nil {
			return err
		}
	}
	d.say("%d days simulated; the clock is at %s", days, d.clock.now().UTC().Format("2006-01-02 15:04 UTC"))
	return nil
}

// makeRepo writes the quickstart into a new Git repository, with canary
// pinning 2026-11 (so that the demo can promote the hotfix) and a fresh
// signing key listed in config.trustedKeys.
func (d *demo) makeRepo(ctx context.Context) error {
	qs, err := fs.Sub(examples.Quickstart, "quickstart")
	if err != nil {
		return err
	}
	d.repoDir = filepath.Join(d.dir, "patches")
	if _, err := os.Stat(d.repoDir); err == nil {
		return fmt.Errorf("demo: %s exists; choose an empty --dir", d.repoDir)
	}
	if err := os.CopyFS(d.repoDir, qs); err != nil {
		return err
	}
	priv, pub, err := audit.GenerateKeyPair(nil)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d.dir, "demo.key"), priv, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d.dir, "demo.pub"), pub, 0o644); err != nil {
		return err
	}
	if d.signer, err = audit.SignerFromPEM(priv, nil); err != nil {
		return err
	}
	if err := editFile(filepath.Join(d.repoDir, "rings", "canary.cue"), `baseline: "2026-11-hotfix-1"`, `baseline: "2026-11"`); err != nil {
		return err
	}
	cfg := fmt.Sprintf("\n// The demo's signing key: records it signed count as evidence.\nconfig: trustedKeys: demo: publicKey: \"\"\"\n%s\"\"\"\n", pub)
	if err := appendFile(filepath.Join(d.repoDir, "patchbay.cue"), cfg); err != nil {
		return err
	}
	if _, err := baseline.LoadDir(ctx, d.repoDir, baseline.Options{Now: d.clock.now()}); err != nil {
		return fmt.Errorf("demo: the repository does not validate: %w", err)
	}
	if d.repo, err = gitrepo.Init(d.repoDir, "main"); err != nil {
		return err
	}
	d.who.When = d.clock.now()
	h, err := d.repo.CommitAll("Import the quickstart patch repository", d.who)
	if err != nil {
		return err
	}
	d.say("%s: commit %s — rings canary=2026-11, pilot=2026-11, prod=2026-10; signing key %s", d.repoDir, h.String()[:12], filepath.Join(d.dir, "demo.key"))
	return nil
}

func (d *demo) startServer(ctx context.Context, listen string) (<-chan struct{}, error) {
	var err error
	db := "sqlite://" + filepath.Join(d.dir, "patchbay.db")
	if d.st, err = store.Open(ctx, db, store.Options{Now: d.clock.now}); err != nil {
		return nil, err
	}
	src := server.GitSource{Repo: d.repo, Branch: "main", Name: d.repoDir}
	rl := server.NewReloader(src, nil, d.clock.now)
	if err := rl.Check(ctx); err != nil {
		return nil, err
	}
	d.models = rl
	go rl.Run(ctx, time.Second)
	var srv *server.Server
	ctl, err := rollout.New(rollout.Config{Store: d.st, Repo: d.repo, Signer: d.signer,
		Inventory: rollout.InventoryFunc(func(ctx context.Context) ([]*inventory.Report, error) { return srv.Reports(ctx) }),
		Planner:   rollout.PlannerFunc(func(ctx context.Context, h store.Host) (*plan.Host, error) { return srv.HostPlan(ctx, h) }),
		Options:   rollout.Options{Now: d.clock.now, Tick: 200 * time.Millisecond, Committer: gitrepo.Signature{Name: "patchbay", Email: "patchbay@localhost"}}})
	if err != nil {
		return nil, err
	}
	d.ctl = ctl
	rec, err := history.New(history.Config{Store: d.st, Now: d.clock.now})
	if err != nil {
		return nil, err
	}
	if srv, err = server.New(server.Config{Store: d.st, Models: rl, Assigner: ctl, Now: d.clock.now, Rate: -1, History: rec}); err != nil {
		return nil, err
	}
	d.srv = srv
	srv.EnableRollouts(ctl)
	srv.EnableDashboard(ctl)
	// The demo key is in config.trustedKeys: the rollout pages verify
	// the records it signed.
	srv.EnableGitTrail(d.repo, nil)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	d.url = "http://" + ln.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ctx, ln, 5*time.Second)
	}()
	d.admin, err = store.NewToken()
	if err != nil {
		return nil, err
	}
	if err := d.st.CreateAdminToken(ctx, "demo", d.admin); err != nil {
		return nil, err
	}
	d.say("listening on %s (store %s)", d.url, db)
	return done, nil
}

// startFleet generates the hosts, enrolls one agent per host over HTTP and
// lets each report once.
func (d *demo) startFleet(ctx context.Context) error {
	model, err := baseline.LoadDir(ctx, d.repoDir, baseline.Options{Now: d.clock.now()})
	if err != nil {
		return err
	}
	_, seeds, err := d.a.fleetSources(ctx, d.repoDir, d.clock.now())
	if err != nil {
		return err
	}
	opts := fleet.DefaultOptions(d.hosts, max(d.hosts/10, 4), d.clock.now())
	opts.StaleFraction, opts.UnassignedFraction = 0, 0
	reports, err := fleet.Generate(model, seeds, opts)
	if err != nil {
		return err
	}
	enroll, err := store.NewToken()
	if err != nil {
		return err
	}
	if err := d.st.CreateEnrollmentToken(ctx, enroll, d.clock.now().Add(time.Hour), d.hosts); err != nil {
		return err
	}
	retry := agent.Retry{Attempts: 10, Base: 10 * time.Millisecond, Max: 200 * time.Millisecond}
	d.agents = make([]*agent.Agent, len(reports))
	d.sims = make([]*agenttest.Sim, len(reports))
	err = d.parallel(ctx, len(reports), func(i int) error {
		r := reports[i]
		c := &agent.Client{Server: d.url, Token: enroll, Retry: retry}
		resp, err := c.Enroll(ctx, api.EnrollRequest{HostID: r.HostID, Hostname: r.Hostname, Stream: r.Stream, Arch: r.Arch, Labels: r.Labels})
		if err != nil {
			return fmt.Errorf("enroll %s: %w", r.HostID, err)
		}
		c.Token = resp.Token
		sim := agenttest.New(r, d.clock.now)
		d.sims[i] = sim
		d.agents[i] = &agent.Agent{Client: c, HostID: r.HostID, Collector: sim, PM: sim, Boot: sim,
			Spool: agent.Spool{Dir: filepath.Join(d.dir, "agents", r.HostID)}, Now: d.clock.now, Out: io.Discard}
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := d.round(ctx); err != nil {
		return err
	}
	d.say("%s enrolled and reported (simulated package managers, %s)", plural.Count(len(d.agents), "agent"), plural.Count(opts.DistinctSets, "distinct package set"))
	return nil
}

// round runs every agent once: report, fetch the assignment, apply it,
// report the post-state and the results. It returns the actions applied.
func (d *demo) round(ctx context.Context) (int, error) {
	var applied atomic.Int64
	err := d.parallel(ctx, len(d.agents), func(i int) error {
		out, err := d.agents[i].RunOnce(ctx)
		applied.Add(int64(len(out.Results)))
		for _, act := range out.Assignment.Actions {
			if act.Tested != nil && act.Version != "" {
				d.recvMu.Lock()
				if d.received == nil {
					d.received = map[string]map[string]string{}
				}
				if d.received[out.Assignment.Ring] == nil {
					d.received[out.Assignment.Ring] = map[string]string{}
				}
				d.received[out.Assignment.Ring][act.Package] = act.Version
				d.recvMu.Unlock()
			}
		}
		if errors.Is(err, agent.ErrActionsFailed) {
			return nil // a failed step is the rollout's business (maxErrors)
		}
		return err
	})
	return int(applied.Load()), err
}

// parallel runs fn(0..n-1) on 16 goroutines and returns the first error.
func (d *demo) parallel(ctx context.Context, n int, fn func(int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := atomic.Int64{}
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func (d *demo) printPlan(ctx context.Context) error {
	p, err := d.srv.FleetPlan(ctx, plan.Options{})
	if err != nil {
		return err
	}
	for _, r := range p.Rings {
		d.say("ring %-6s %4d hosts, %5.1f%% compliant", r.Name, r.Hosts, r.CompliancePercent)
	}
	return nil
}

// pullRequest commits a promotion of ring to 2026-11-hotfix-1 on a branch,
// has reviewers approve its head, asks the gate (with the base commit's
// policies and evidence from the audit trail), records the decision and,
// when it passes, merges the pull request.
func (d *demo) pullRequest(ctx context.Context, n int, ring, branch string, reviewers []string, merge bool) (*change.Result, error) {
	base, err := d.repo.Resolve("main")
	if err != nil {
		return nil, err
	}
	if err := editFile(filepath.Join(d.repoDir, "rings", ring+".cue"), `baseline: "2026-11"`, `baseline: "2026-11-hotfix-1"`); err != nil {
		return nil, err
	}
	d.who.When = d.clock.now()
	head, err := d.repo.CommitAll(fmt.Sprintf("Promote 2026-11-hotfix-1 to %s", ring), d.who)
	if err != nil {
		return nil, err
	}
	if err := d.repo.Branch(path.Base(branch), head); err != nil {
		return nil, err
	}
	if err := d.repo.Branch("main", base); err != nil {
		return nil, err
	}
	pr := gate.PullRequest{Number: n, Author: "sre-platform", LastPusher: "sre-platform", HeadSHA: head.String()}
	var reviews []gate.Review
	for i, login := range reviewers {
		reviews = append(reviews, gate.Review{User: gate.User{Login: login}, State: "APPROVED", CommitID: head.String(), SubmittedAt: d.clock.now().Add(time.Duration(i) * time.Second)})
	}
	d.say("PR #%d by sre-platform: rings/%s.cue 2026-11 → 2026-11-hotfix-1 (head %s), approved by %s", n, ring, head.String()[:12], strings.Join(reviewers, ", "))
	res, err := d.eval.Evaluate(ctx, change.Request{Repo: d.repo, Base: base.String(), Head: head.String(), PR: pr, Reviews: reviews, Now: d.clock.now()})
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	if err := render.GateText(&b, res.Decision, res.Approvers, res.EvidenceSource); err != nil {
		return nil, err
	}
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		d.say("%s", line)
	}
	w := &audit.Writer{Repo: d.repo, Signer: d.signer, Committer: gitrepo.Signature{Name: "patchbay", Email: "patchbay@localhost"}, Now: d.clock.now}
	if _, err := w.Write(ctx, head, &audit.GateDecision{Result: string(res.Decision.Result), Denies: ids(res.Decision.Deny), Warns: ids(res.Decision.Warn),
		PolicyBundleDigest: res.Decision.Manifest.BundleDigest, InputDigest: res.Decision.Manifest.InputDigest, PR: n,
		HeadSHA: head.String(), BaseSHA: base.String(), Approvers: res.Approvers, DecidedAt: d.clock.now()}); err != nil {
		return nil, err
	}
	if !merge || res.Decision.Result != gate.Pass {
		return res, nil
	}
	d.who.When = d.clock.now()
	m, err := d.repo.Merge(head, fmt.Sprintf("Merge pull request #%d from %s\n\nPromote 2026-11-hotfix-1 to %s", n, branch, ring), d.who)
	if err != nil {
		return nil, err
	}
	d.say("merged as %s; the controller is told (the webhook's hint)", m.String()[:12])
	if err := d.models.Check(ctx); err != nil {
		return nil, err
	}
	return res, d.ctl.Hint(ctx, rollout.Hint{Commit: m.String(), PR: n, HeadSHA: head.String(), Author: "sre-platform", Approvers: res.Approvers})
}

// rollOut ticks the controller and runs agent rounds until the ring's
// rollout of the hotfix ends.
func (d *demo) rollOut(ctx context.Context, ring string, haltOK bool) (api.Rollout, error) {
	deadline := time.Now().Add(90 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		if err := d.tick(ctx); err != nil {
			return api.Rollout{}, err
		}
		list, err := d.ctl.List(ctx)
		if err != nil {
			return api.Rollout{}, err
		}
		var r *api.Rollout
		for i := range list.Rollouts {
			if x := list.Rollouts[i]; x.Ring == ring && x.BaselineID == "2026-11-hotfix-1" {
				r = &list.Rollouts[i]
			}
		}
		if r != nil {
			line := fmt.Sprintf("rollout %s %-9s wave %d (≤%d hosts): %d succeeded, %d failed, %d pending of %d; %d hosts rebooted so far; %s from the agents at work",
				r.ID, r.State, r.Wave, r.MaxConcurrency, r.Hosts.Succeeded, r.Hosts.Failed, r.Hosts.Pending+r.Hosts.Running, r.Hosts.Total, d.reboots(),
				plural.Count(int(d.heartbeats()), "heartbeat"))
			if r.State == rollout.StateHalted {
				line += " — " + r.Hold
			}
			if line != last {
				d.say("%s", line)
				last = line
			}
			switch r.State {
			case rollout.StateCompleted, rollout.StateVerified:
				return *r, nil
			case rollout.StateHalted:
				if haltOK {
					return *r, nil
				}
				return *r, fmt.Errorf("demo: rollout %s %s", r.ID, r.State)
			case rollout.StateFailed, rollout.StateAborted, rollout.StateSuperseded:
				return *r, fmt.Errorf("demo: rollout %s %s", r.ID, r.State)
			}
		}
		if _, err := d.round(ctx); err != nil {
			return api.Rollout{}, err
		}
	}
	return api.Rollout{}, fmt.Errorf("demo: the %s rollout did not finish in 90 s", ring)
}

// soak moves the simulated clock past the ring's soak and ticks the
// controller until it writes the ring.verified record; then, if the next
// ring requires a longer soak in this one (the gate's rule), it lets that
// much more time pass too.
func (d *demo) soak(ctx context.Context, r api.Rollout, next string) error {
	model, err := baseline.LoadDir(ctx, d.repoDir, baseline.Options{Now: d.clock.now()})
	if err != nil {
		return err
	}
	s := time.Duration(model.Ring(r.Ring).Soak)
	d.clock.skip.Add(int64(s + time.Minute))
	d.say("simulated clock moved %s ahead (ring %s soak); agents keep reporting", s, r.Ring)
	for range 50 {
		if _, err := d.round(ctx); err != nil {
			return err
		}
		if err := d.tick(ctx); err != nil {
			return err
		}
		log, err := audit.Read(ctx, d.repo)
		if err != nil {
			return err
		}
		for _, rec := range log.Of(audit.KindRingVerified) {
			p, err := rec.Decode()
			if err != nil {
				return err
			}
			if v := p.(*audit.RingVerified); v.Ring == r.Ring && v.BaselineID == r.BaselineID {
				d.say("ring.verified: %s ran %s on %d/%d hosts (%.0f%%), soaked %.1fh — signed, in refs/notes/patchbay on %s",
					v.Ring, v.BaselineID, v.HostsSucceeded, v.HostsTotal, v.SuccessRate*100, v.SoakHours, v.Commit[:12])
				d.tested = v.TestedSet
				d.say("the tested set: %s verified these exact versions (%d entries); the next ring installs these and no other:", v.Ring, len(v.TestedSet))
				for _, tv := range d.showTested() {
					d.say("  %-12s %-22s %-28s on %d hosts", tv.Stream, tv.Package, tv.Version, tv.Hosts)
				}
				need := time.Duration(model.Ring(next).Soak) - time.Duration(v.SoakHours*float64(time.Hour))
				if need > 0 {
					d.clock.skip.Add(int64(need + time.Minute))
					d.say("ring %s requires %s of soak in %s: simulated clock moved another %s", next, time.Duration(model.Ring(next).Soak), r.Ring, need.Round(time.Minute))
				}
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("demo: no ring.verified record for %s after its soak", r.Ring)
}

// pilot moves the clock into pilot's maintenance window, gives two pilot
// hosts (maxErrors + 1) a health check that fails, and rolls pilot out:
// the hosts receive exactly canary's tested versions, reboot where the
// ring's policy asks, and the failed health checks halt the rollout.
func (d *demo) pilot(ctx context.Context) error {
	model, err := baseline.LoadDir(ctx, d.repoDir, baseline.Options{Now: d.clock.now()})
	if err != nil {
		return err
	}
	ring := model.Ring("pilot")
	if s := rollout.ScheduleAt(ring, d.clock.now()); !s.Open && !s.NextOpen.IsZero() {
		skip := s.NextOpen.Sub(d.clock.now()) + time.Minute
		d.clock.skip.Add(int64(skip))
		d.say("simulated clock moved %s ahead, into pilot's maintenance window", skip.Round(time.Minute))
	}
	broken := 0
	for i, a := range d.agents {
		h, err := d.st.Host(ctx, a.HostID)
		if err != nil {
			return err
		}
		ph, err := d.srv.HostPlan(ctx, h)
		if err != nil || ph == nil || ph.Ring != "pilot" || len(ph.Actions) == 0 || broken > ring.Strategy.MaxErrors.N {
			continue
		}
		a.Health = []agent.Check{agenttest.NewCheck("systemd:payments.service", false)}
		a.HealthTimeout = time.Millisecond
		broken++
		d.say("host %s: its health check systemd:payments.service will fail after patching", d.agents[i].HostID)
	}
	r, err := d.rollOut(ctx, "pilot", true)
	if err != nil {
		return err
	}
	d.recvMu.Lock()
	got := d.received["pilot"]
	d.recvMu.Unlock()
	same, shown := 0, 0
	for _, tv := range d.tested {
		if v, ok := got[tv.Package]; ok && v == tv.Version {
			same++
		}
		if v, ok := got[tv.Package]; ok && v == tv.Version && tv.Stream == "debian-12" {
			shown++
			if shown <= 6 {
				d.say("pilot received %s=%s — the version canary verified (tested set), not the repository's candidate", tv.Package, tv.Version)
			}
		}
	}
	d.say("pilot received %d exact versions; %d of them are in canary's tested set", len(got), same)
	if r.State == rollout.StateHalted {
		d.say("rollout %s halted: %s (the failed health checks count toward maxErrors)", r.ID, r.Hold)
	}
	return nil
}

func (d *demo) audit(ctx context.Context) error {
	var b strings.Builder
	a := *d.a
	a.stdout = &b
	a.now = d.clock.now // the simulated clock: the demo's story is dated, whatever today is
	if code := a.run(ctx, []string{"audit", "log", "-C", d.repoDir}); code != 0 {
		return fmt.Errorf("demo: audit log exited %d", code)
	}
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		d.say("%s", line)
	}
	b.Reset()
	if code := a.run(ctx, []string{"audit", "verify", "-C", d.repoDir}); code != 0 {
		return fmt.Errorf("demo: audit verify exited %d: %s", code, b.String())
	}
	d.say("%s", strings.TrimSpace(b.String()))
	return nil
}

func editFile(p, old, new string) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), old) {
		return fmt.Errorf("demo: %s has no %s", p, old)
	}
	return os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644)
}

func appendFile(p, s string) error {
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// selfCommand is how the user can run patchbay again: "patchbay" when that is
// this program on PATH, "go run ./cmd/patchbay" under go run, else the
// executable's path.
func (a *app) selfCommand() string {
	exe, err := os.Executable()
	if err != nil {
		return "patchbay"
	}
	if onPath, err := exec.LookPath("patchbay"); err == nil {
		if x, err := os.Stat(exe); err == nil {
			if y, err := os.Stat(onPath); err == nil && os.SameFile(x, y) {
				return "patchbay"
			}
		}
	}
	if strings.Contains(filepath.ToSlash(exe), "/go-build") {
		return "go run ./cmd/patchbay"
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, exe); err == nil && !strings.HasPrefix(rel, "..") {
			return "./" + filepath.ToSlash(rel)
		}
	}
	return exe
}
