package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/agent"
	"github.com/patchbay/patchbay/engine/agent/agenttest"
	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/vercmp"
)

// fakeAPI is the agent API of a server reduced to what a step needs: it
// stores reports, hands out one assignment (leaving out actions whose
// result is recorded, as the server does) and records results once.
type fakeAPI struct {
	mu      sync.Mutex
	asg     api.Assignment
	results map[string]api.ActionResult
	reports int
	// phases are the heartbeats' phases in arrival order; queries the
	// assignment requests' query strings.
	phases  []string
	queries []string
}

// heartbeats returns the phases received so far.
func (f *fakeAPI) heartbeats() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.phases...)
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(r.URL.Path, "/report"):
		if r.Header.Get("Content-Type") == api.MediaReportSummary {
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(api.Error{Code: api.CodeNeedPackages, NeedPackages: true})
			return
		}
		f.reports++
		json.NewEncoder(w).Encode(api.ReportAck{Accepted: true, ReportID: int64(f.reports)})
	case strings.HasSuffix(r.URL.Path, "/heartbeat"):
		var hb api.Heartbeat
		if err := json.NewDecoder(r.Body).Decode(&hb); err != nil || hb.RolloutID != f.asg.RolloutID {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.phases = append(f.phases, hb.Phase)
		json.NewEncoder(w).Encode(api.HeartbeatAck{Recorded: true})
	case strings.HasSuffix(r.URL.Path, "/assignment"):
		f.queries = append(f.queries, r.URL.RawQuery)
		a := f.asg
		a.Actions = nil
		for _, act := range f.asg.Actions {
			if _, done := f.results[act.ID]; !done {
				a.Actions = append(a.Actions, act)
			}
		}
		json.NewEncoder(w).Encode(a)
	case strings.HasSuffix(r.URL.Path, "/results"):
		var req api.ResultsRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		out := api.ResultsResponse{}
		for _, res := range req.Results {
			if _, dup := f.results[res.ActionID]; dup {
				out.Duplicates++
				continue
			}
			f.results[res.ActionID] = res
			out.Recorded++
		}
		json.NewEncoder(w).Encode(out)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (f *fakeAPI) result(t *testing.T, id string) api.ActionResult {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.results[id]
	if !ok {
		t.Fatalf("no result for action %s; have %v", id, f.results)
	}
	return r
}

const digest = "sha256:0000000000000000000000000000000000000000000000000000000000000001"

func action(kind, pkg, version string, tested *api.Tested) api.Action {
	key := api.ActionKey(kind, pkg, version, "", "", nil)
	if tested != nil && len(tested.Versions) == 0 {
		key += " tested=none"
	}
	return api.Action{ID: api.ActionID("h1", digest, key), Kind: kind, Key: key, Package: pkg, Version: version, Tested: tested, Rules: []string{}}
}

func rebootAction(policy string) api.Action {
	key := "reboot"
	return api.Action{ID: api.ActionID("h1", digest, key), Kind: api.KindReboot, Key: key, RebootPolicy: policy, Rules: []string{}, Reason: "ring reboot policy " + policy}
}

// host is a simulated Debian host with libfoo1 and foo-tool at 1.0-1.
func host(t *testing.T) *agenttest.Sim {
	t.Helper()
	ps, err := inventory.NewPackageSet(vercmp.Deb, []inventory.Package{
		{Name: "libfoo1", Version: "1.0-1", Arch: "amd64", SourceName: "foo", SourceVersion: "1.0-1"},
		{Name: "foo-tool", Version: "1.0-1", Arch: "amd64", SourceName: "foo", SourceVersion: "1.0-1"},
		{Name: "libc6", Version: "2.36-9", Arch: "amd64", SourceName: "glibc", SourceVersion: "2.36-9"},
	})
	if err != nil {
		t.Fatal(err)
	}
	rep := &inventory.Report{HostID: "h1", Stream: "debian-12", Ecosystem: vercmp.Deb, Arch: "amd64", Packages: ps,
		CollectedAt: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	sim := agenttest.New(rep, time.Now)
	sim.RebootPackages = []string{"libc6"}
	sim.Publish("libfoo1", "1.0-1", "1.1-1")
	sim.Publish("foo-tool", "1.0-1", "1.1-1")
	sim.Publish("libc6", "2.36-9", "2.36-9+deb12u10")
	return sim
}

func newAgent(t *testing.T, f *fakeAPI, sim *agenttest.Sim, out *strings.Builder) *agent.Agent {
	t.Helper()
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	f.results = map[string]api.ActionResult{}
	return &agent.Agent{Client: &agent.Client{Server: ts.URL, Token: "t", Retry: agent.Retry{Attempts: 1}}, HostID: "h1",
		Collector: sim, PM: sim, Boot: sim, Spool: agent.Spool{Dir: t.TempDir()}, Out: out, HealthTimeout: time.Millisecond, HealthPoll: time.Millisecond}
}

// TestTestedSetNotCandidate: a promotion bound to the tested set installs
// the tested 1.1-1 of both packages in one transaction after one refresh,
// although the repository's candidate is a newer 1.2-1 published after the
// previous ring verified.
func TestTestedSetNotCandidate(t *testing.T) {
	sim := host(t)
	sim.Publish("libfoo1", "1.2-1")
	sim.Publish("foo-tool", "1.2-1")
	tested := &api.Tested{Ring: "canary", Versions: []string{"1.1-1"}}
	f := &fakeAPI{asg: api.Assignment{HostID: "h1", BaselineDigest: digest, Actions: []api.Action{
		action(api.KindUpgrade, "foo-tool", "1.1-1", tested), action(api.KindUpgrade, "libfoo1", "1.1-1", tested)}}}
	var out strings.Builder
	a := newAgent(t, f, sim, &out)
	if _, err := a.RunOnce(context.Background()); err != nil {
		t.Fatalf("RunOnce: %v\n%s", err, out.String())
	}
	if got := sim.Version("libfoo1") + " " + sim.Version("foo-tool"); got != "1.1-1 1.1-1" {
		t.Errorf("installed %s, want the tested 1.1-1 1.1-1 (not the candidate 1.2-1)", got)
	}
	if sim.Refreshes != 1 || len(sim.Transactions) != 1 || len(sim.Transactions[0]) != 2 {
		t.Errorf("refreshes %d, transactions %v; want one refresh and one transaction of two packages", sim.Refreshes, sim.Transactions)
	}
	for _, act := range f.asg.Actions {
		if r := f.result(t, act.ID); r.Outcome != api.OutcomeSucceeded {
			t.Errorf("%s: %s %s", act.Key, r.Outcome, r.Detail)
		}
	}
}

// TestNotInTestedSet: a package the previous ring ran no version of is
// not installed; the step fails with "version not in tested set". A post-
// state at an untested version fails the same way.
func TestNotInTestedSet(t *testing.T) {
	sim := host(t)
	none := action(api.KindUpgrade, "libfoo1", "", &api.Tested{Ring: "canary", Versions: []string{}})
	f := &fakeAPI{asg: api.Assignment{HostID: "h1", BaselineDigest: digest, Actions: []api.Action{none}}}
	var out strings.Builder
	a := newAgent(t, f, sim, &out)
	if _, err := a.RunOnce(context.Background()); !errors.Is(err, agent.ErrActionsFailed) {
		t.Fatalf("RunOnce: %v, want ErrActionsFailed", err)
	}
	r := f.result(t, none.ID)
	if r.Outcome != api.OutcomeFailed || !strings.Contains(r.Detail, api.NotTested) || !strings.Contains(r.Detail, "a new pass of ring canary is needed") {
		t.Errorf("result %s: %s", r.Outcome, r.Detail)
	}
	if len(sim.Transactions) != 0 || sim.Version("libfoo1") != "1.0-1" {
		t.Errorf("transactions %v, libfoo1 %s; want nothing installed", sim.Transactions, sim.Version("libfoo1"))
	}
	// Satisfied refuses a version outside the tested set.
	post, _ := sim.Collect(context.Background())
	ok, why := agent.Satisfied(post, api.Action{Kind: api.KindUpgrade, Package: "libfoo1", Min: "1.0-1", Tested: &api.Tested{Ring: "canary", Versions: []string{"1.1-1"}}})
	if ok || !strings.Contains(why, api.NotTested) {
		t.Errorf("Satisfied at an untested version = %t, %q", ok, why)
	}
}

// TestTestedVersionWithdrawn: the repository no longer offers the tested
// version: the host says so and installs nothing for it.
func TestTestedVersionWithdrawn(t *testing.T) {
	sim := host(t)
	sim.Withdraw("libfoo1", "1.1-1")
	sim.Publish("libfoo1", "1.2-1")
	act := action(api.KindUpgrade, "libfoo1", "1.1-1", &api.Tested{Ring: "canary", Versions: []string{"1.1-1"}})
	f := &fakeAPI{asg: api.Assignment{HostID: "h1", BaselineDigest: digest, Actions: []api.Action{act}}}
	var out strings.Builder
	a := newAgent(t, f, sim, &out)
	if _, err := a.RunOnce(context.Background()); !errors.Is(err, agent.ErrActionsFailed) {
		t.Fatalf("RunOnce: %v", err)
	}
	r := f.result(t, act.ID)
	want := "the repository no longer offers tested version 1.1-1 (ring canary) of libfoo1 on host h1 (offered: 1.0-1, 1.2-1)"
	if r.Outcome != api.OutcomeFailed || !strings.Contains(r.Detail, want) {
		t.Errorf("result %s: %q, want %q", r.Outcome, r.Detail, want)
	}
	if len(sim.Transactions) != 0 {
		t.Errorf("transactions %v; want none", sim.Transactions)
	}
}

// TestRefreshUnreachable: an unreachable repository fails the step with a
// clear error and installs nothing.
func TestRefreshUnreachable(t *testing.T) {
	sim := host(t)
	sim.Unreachable = true
	act := action(api.KindUpgrade, "libfoo1", "1.1-1", nil)
	f := &fakeAPI{asg: api.Assignment{HostID: "h1", BaselineDigest: digest, Actions: []api.Action{act}}}
	var out strings.Builder
	a := newAgent(t, f, sim, &out)
	_, _ = a.RunOnce(context.Background())
	if r := f.result(t, act.ID); r.Outcome != api.OutcomeFailed || !strings.Contains(r.Detail, "refresh package indexes") || !strings.Contains(r.Detail, "unreachable") {
		t.Errorf("result %s: %q", r.Outcome, r.Detail)
	}
	if len(sim.Transactions) != 0 {
		t.Errorf("transactions %v", sim.Transactions)
	}
}

// TestReboot covers the reboot policy: if-required reboots only when the
// host reports that it needs one; always reboots; the result is reported
// once, after the restart, and the host is never rebooted twice.
func TestReboot(t *testing.T) {
	tests := []struct {
		name       string
		pkg, ver   string
		policy     string
		wantBoots  int
		wantDetail string
	}{
		{"if-required, not required", "libfoo1", "1.1-1", api.RebootIfRequired, 0, "no reboot required"},
		{"if-required, libc6 upgraded", "libc6", "2.36-9+deb12u10", api.RebootIfRequired, 1, "rebooted: boot id sim-boot-0 -> sim-boot-1"},
		{"always", "libfoo1", "1.1-1", api.RebootAlways, 1, "rebooted: boot id sim-boot-0 -> sim-boot-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := host(t)
			rb := rebootAction(tt.policy)
			f := &fakeAPI{asg: api.Assignment{HostID: "h1", BaselineDigest: digest, Actions: []api.Action{action(api.KindUpgrade, tt.pkg, tt.ver, nil), rb}}}
			var out strings.Builder
			a := newAgent(t, f, sim, &out)
			o, err := a.RunOnce(context.Background())
			if err != nil {
				t.Fatalf("RunOnce: %v\n%s", err, out.String())
			}
			if o.Rebooting != (tt.wantBoots == 1) {
				t.Errorf("Rebooting = %t", o.Rebooting)
			}
			for range 3 { // the runs after the restart
				if _, err := a.RunOnce(context.Background()); err != nil {
					t.Fatalf("RunOnce after restart: %v\n%s", err, out.String())
				}
			}
			if sim.Reboots != tt.wantBoots {
				t.Errorf("reboots = %d, want %d", sim.Reboots, tt.wantBoots)
			}
			if r := f.result(t, rb.ID); r.Outcome != api.OutcomeSucceeded || !strings.Contains(r.Detail, tt.wantDetail) {
				t.Errorf("reboot result %s: %q, want %q", r.Outcome, r.Detail, tt.wantDetail)
			}
		})
	}
}

// stuck is a host whose reboot command does nothing.
type stuck struct{ calls int }

func (s *stuck) BootID() (string, error)      { return "same-boot", nil }
func (s *stuck) Reboot(context.Context) error { s.calls++; return nil }

// TestRebootNeverTwice: a reboot command that does not restart the host is
// waited for, then reported failed — and never run again.
func TestRebootNeverTwice(t *testing.T) {
	sim := host(t)
	rb := rebootAction(api.RebootAlways)
	f := &fakeAPI{asg: api.Assignment{HostID: "h1", BaselineDigest: digest, Actions: []api.Action{rb}}}
	var out strings.Builder
	a := newAgent(t, f, sim, &out)
	s := &stuck{}
	a.Boot = s
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	a.Now = func() time.Time { return now }
	if o, err := a.RunOnce(context.Background()); err != nil || !o.Rebooting {
		t.Fatalf("RunOnce: %+v %v", o, err)
	}
	if _, err := a.RunOnce(context.Background()); !errors.Is(err, agent.ErrRebootPending) {
		t.Errorf("within the grace: %v, want ErrRebootPending", err)
	}
	now = now.Add(time.Hour)
	if _, err := a.RunOnce(context.Background()); err != nil {
		t.Fatalf("after the grace: %v", err)
	}
	if r := f.result(t, rb.ID); r.Outcome != api.OutcomeFailed || !strings.Contains(r.Detail, "did not restart") {
		t.Errorf("result %s: %q", r.Outcome, r.Detail)
	}
	if s.calls != 1 {
		t.Errorf("reboot command ran %d times, want 1", s.calls)
	}
}

// TestHealthFailureRollsBack: a failing health check fails the step; with
// rollback on-failure the packages return to the versions found, and a
// version the repository no longer offers is named.
func TestHealthFailureRollsBack(t *testing.T) {
	for _, tt := range []struct {
		name      string
		rollback  string
		withdraw  bool
		wantFoo   string
		wantLines []string
	}{
		{"never", api.RollbackNever, false, "1.1-1", nil},
		{"on-failure", api.RollbackOnFailure, false, "1.0-1", []string{"rolled back libfoo1 to 1.0-1", "rolled back foo-tool to 1.0-1"}},
		{"on-failure, old version gone", api.RollbackOnFailure, true, "1.1-1", []string{"cannot roll back libfoo1 to 1.0-1: the repository no longer offers it (offered: 1.1-1)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sim := host(t)
			if tt.withdraw {
				sim.Withdraw("libfoo1", "1.0-1")
			}
			acts := []api.Action{action(api.KindUpgrade, "foo-tool", "1.1-1", nil), action(api.KindUpgrade, "libfoo1", "1.1-1", nil), rebootAction(api.RebootAlways)}
			f := &fakeAPI{asg: api.Assignment{HostID: "h1", BaselineDigest: digest, Rollback: tt.rollback, Actions: acts}}
			var out strings.Builder
			a := newAgent(t, f, sim, &out)
			a.Health = []agent.Check{agenttest.NewCheck("systemd:foo", false)}
			o, err := a.RunOnce(context.Background())
			if !errors.Is(err, agent.ErrActionsFailed) {
				t.Fatalf("RunOnce: %v", err)
			}
			if got := sim.Version("libfoo1"); got != tt.wantFoo {
				t.Errorf("libfoo1 %s, want %s", got, tt.wantFoo)
			}
			for _, act := range acts {
				r := f.result(t, act.ID)
				if r.Outcome != api.OutcomeFailed {
					t.Errorf("%s: %s", act.Key, r.Outcome)
				}
				if act.Kind != api.KindReboot && !strings.Contains(r.Detail, "health check failed after patching: systemd:foo: simulated service is not active") {
					t.Errorf("%s detail %q", act.Key, r.Detail)
				}
			}
			if sim.Reboots != 0 {
				t.Errorf("rebooted a host whose step failed")
			}
			for _, l := range tt.wantLines {
				if !strings.Contains(strings.Join(o.RolledBack, "\n"), l) {
					t.Errorf("rollback %q lacks %q", o.RolledBack, l)
				}
			}
		})
	}
}

// TestCrashBetweenApplyAndSpool: an agent that stopped after installing
// but before spooling finds its marker at the next start and judges the
// actions from the post-state (succeeded), instead of leaving the host
// running until its wave times out.
func TestCrashBetweenApplyAndSpool(t *testing.T) {
	sim := host(t)
	act := action(api.KindUpgrade, "libfoo1", "1.1-1", nil)
	f := &fakeAPI{asg: api.Assignment{HostID: "h1", BaselineDigest: digest, Actions: []api.Action{act}}}
	var out strings.Builder
	a := newAgent(t, f, sim, &out)
	// The crash: the transaction ran, the marker is on disk, no result.
	if _, err := sim.Install(context.Background(), []agent.Request{{Package: "libfoo1", Version: "1.1-1", Kind: api.KindUpgrade}}); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"actions": []api.Action{act}, "baselineDigest": digest, "pre": map[string]string{"libfoo1": "1.0-1"}, "startedAt": time.Now()})
	if err := os.WriteFile(filepath.Join(a.Spool.Dir, "state-inflight.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RunOnce(context.Background()); err != nil {
		t.Fatalf("RunOnce: %v\n%s", err, out.String())
	}
	if r := f.result(t, act.ID); r.Outcome != api.OutcomeSucceeded || !strings.Contains(r.Detail, "after an agent restart") {
		t.Errorf("result %s: %q", r.Outcome, r.Detail)
	}
	if len(sim.Transactions) != 1 {
		t.Errorf("transactions %d; the recovered step was run again", len(sim.Transactions))
	}
	if _, err := os.Stat(filepath.Join(a.Spool.Dir, "state-inflight.json")); !os.IsNotExist(err) {
		t.Errorf("marker left behind: %v", err)
	}
}

// TestTestedVersionExplicitEpochZero: rpm reports a package built with
// "Epoch: 0" as 0:1.1-1 (so the tested set names that), while dnf's
// repository query shows 1.1-1. The repository does offer the tested
// version: it is installed, not reported as withdrawn.
func TestTestedVersionExplicitEpochZero(t *testing.T) {
	ps, err := inventory.NewPackageSet(vercmp.RPM, []inventory.Package{
		{Name: "libfoo", Version: "0:1.0-1", Arch: "x86_64", SourceName: "foo", SourceVersion: "0:1.0-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	sim := agenttest.New(&inventory.Report{HostID: "h1", Stream: "rocky-9", Ecosystem: vercmp.RPM, Arch: "x86_64", Packages: ps,
		CollectedAt: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}, time.Now)
	sim.Publish("libfoo", "1.0-1", "1.1-1", "1.2-1")
	act := action(api.KindUpgrade, "libfoo", "0:1.1-1", &api.Tested{Ring: "canary", Versions: []string{"0:1.1-1"}})
	f := &fakeAPI{asg: api.Assignment{HostID: "h1", BaselineDigest: digest, Actions: []api.Action{act}}}
	var out strings.Builder
	a := newAgent(t, f, sim, &out)
	if _, err := a.RunOnce(context.Background()); err != nil {
		t.Fatalf("RunOnce: %v\n%s", err, out.String())
	}
	if r := f.result(t, act.ID); r.Outcome != api.OutcomeSucceeded {
		t.Errorf("%s: %s", r.Outcome, r.Detail)
	}
	if len(sim.Transactions) != 1 {
		t.Errorf("transactions %v, want one", sim.Transactions)
	}
}

// watchedBoot is the Sim's rebooter that notes which heartbeats the server
// had received when the reboot command ran.
type watchedBoot struct {
	*agenttest.Sim
	f      *fakeAPI
	before []string
}

func (w *watchedBoot) Reboot(ctx context.Context) error {
	w.before = w.f.heartbeats()
	return w.Sim.Reboot(ctx)
}

// TestHeartbeats: a step of a rollout heartbeats from its start
// ("refresh", sent before anything else) and says "rebooting" before the
// reboot command runs; after the restart the agent heartbeats "post-boot"
// while it checks the host. Without a rollout id (no controller) it sends
// none.
func TestHeartbeats(t *testing.T) {
	sim := host(t)
	var out strings.Builder
	f := &fakeAPI{asg: api.Assignment{HostID: "h1", Status: "NON_COMPLIANT", BaselineDigest: digest, RolloutID: "canary-1", HeartbeatSeconds: 30,
		Actions: []api.Action{action(api.KindInstall, "libc6", "2.36-9+deb12u10", nil), rebootAction(api.RebootIfRequired)}}}
	a := newAgent(t, f, sim, &out)
	boot := &watchedBoot{Sim: sim, f: f}
	a.Boot = boot
	o, err := a.RunOnce(context.Background())
	if err != nil || !o.Rebooting {
		t.Fatalf("step: rebooting %t, %v\n%s", o.Rebooting, err, out.String())
	}
	if len(boot.before) == 0 || boot.before[0] != api.PhaseRefresh || boot.before[len(boot.before)-1] != api.PhaseRebooting {
		t.Errorf("heartbeats before the reboot command: %v; want refresh first and rebooting last", boot.before)
	}
	if _, err := a.RunOnce(context.Background()); err != nil {
		t.Fatalf("after the restart: %v\n%s", err, out.String())
	}
	if got := f.heartbeats(); !slices.Contains(got[len(boot.before):], api.PhasePostBoot) {
		t.Errorf("heartbeats after the restart: %v; want post-boot", got[len(boot.before):])
	}
	if a.Heartbeats() != int64(len(f.heartbeats())) {
		t.Errorf("Heartbeats() = %d, server recorded %d", a.Heartbeats(), len(f.heartbeats()))
	}
	for _, q := range f.queries {
		if q != "" {
			t.Errorf("assignment query %q from an agent that applies; want none", q)
		}
	}

	// No rollout: no heartbeat.
	sim2 := host(t)
	f2 := &fakeAPI{asg: api.Assignment{HostID: "h1", Status: "NON_COMPLIANT", BaselineDigest: digest,
		Actions: []api.Action{action(api.KindUpgrade, "libfoo1", "1.1-1", nil)}}}
	if _, err := newAgent(t, f2, sim2, &out).RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f2.heartbeats(); len(got) != 0 {
		t.Errorf("heartbeats without a rollout: %v", got)
	}
}

// TestDryRunAsksAsDryRun: the dry-run executor tells the server (so the
// host takes no wave slot), prints the would-be commands, sends no result
// and no heartbeat.
func TestDryRunAsksAsDryRun(t *testing.T) {
	sim := host(t)
	var out strings.Builder
	f := &fakeAPI{asg: api.Assignment{HostID: "h1", Status: "NON_COMPLIANT", BaselineDigest: digest, RolloutID: "canary-1",
		Actions: []api.Action{action(api.KindUpgrade, "libfoo1", "1.1-1", nil)}}}
	a := newAgent(t, f, sim, &out)
	a.PM = nil
	o, err := a.RunOnce(context.Background())
	if err != nil || o.Skipped != 1 || len(o.Results) != 0 {
		t.Fatalf("dry run: %+v, %v", o, err)
	}
	if len(f.queries) != 1 || f.queries[0] != "dryRun=true" {
		t.Errorf("assignment queries %q, want [dryRun=true]", f.queries)
	}
	if !strings.Contains(out.String(), "dry-run: would run: ") || len(f.heartbeats()) != 0 || len(f.results) != 0 {
		t.Errorf("dry run: heartbeats %v, results %v, output:\n%s", f.heartbeats(), f.results, out.String())
	}
}
