package history

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func day(n int) time.Time { return t0.Add(time.Duration(n) * 24 * time.Hour) }

func ch(host string, r store.HistoryRule, at time.Time, st plan.State, deadline time.Time) store.HistoryChange {
	return store.HistoryChange{HostID: host, At: at, HostState: store.HostState{Rule: r, State: Code(st), Deadline: deadline}}
}

var (
	kevCrit = store.HistoryRule{Stream: "debian-12", Kind: "source", Name: "openssl", Severity: "critical", KEV: true, Since: day(-2)}
	high    = store.HistoryRule{Stream: "debian-12", Kind: "package", Name: "curl", Severity: "high"}
)

func TestMeasures(t *testing.T) {
	changes := []store.HistoryChange{
		// h1: openssl open day 0 (published day -2), fixed day 5, deadline day 12: met, 7 days.
		ch("h1", kevCrit, day(0), plan.Missing, day(12)),
		ch("h1", kevCrit, day(3), plan.InstalledPendingReboot, day(12)),
		ch("h1", kevCrit, day(5), plan.Installed, time.Time{}),
		// h2: openssl fixed day 20, after the deadline: missed, 22 days.
		ch("h2", kevCrit, day(0), plan.Missing, day(12)),
		ch("h2", kevCrit, day(20), plan.InstalledOther, time.Time{}),
		// h3: curl installed, regresses on day 8 and stays open (deadline
		// day 40: pending when judged on day 25, in the December cycle).
		ch("h3", high, day(0), plan.Installed, time.Time{}),
		ch("h3", high, day(8), plan.BlockedVersion, day(40)),
		// h4: openssl open, excepted on day 2 before the deadline: not counted.
		ch("h4", kevCrit, day(0), plan.Missing, day(12)),
		ch("h4", kevCrit, day(2), plan.Excepted, time.Time{}),
		// h5: openssl still open on day 25, deadline day 12 passed: missed.
		ch("h5", kevCrit, day(1), plan.Missing, day(12)),
	}
	eps := Episodes(changes)
	if len(eps) != 5 {
		t.Fatalf("episodes = %d, want 5: %+v", len(eps), eps)
	}
	if eps[0].HostID != "h1" || !eps[0].Remediated() || eps[0].Start() != day(-2) {
		t.Errorf("h1 episode = %+v", eps[0])
	}

	ttr := TimeToRemediate(eps, t0, day(30))
	want := []Remediation{
		{Group: "kev", Count: 2, Median: 7 * 24 * time.Hour, P90: 22 * 24 * time.Hour, Max: 22 * 24 * time.Hour},
		{Group: "critical", Count: 2, Median: 7 * 24 * time.Hour, P90: 22 * 24 * time.Hour, Max: 22 * 24 * time.Hour},
	}
	if d := cmp.Diff(want, ttr); d != "" {
		t.Errorf("TimeToRemediate (-want +got):\n%s", d)
	}
	if got := TimeToRemediate(eps, day(10), day(30)); len(got) != 2 || got[0].Count != 1 || got[0].Median != 22*24*time.Hour {
		t.Errorf("TimeToRemediate from day 10 = %+v (h1's day-5 fix is outside)", got)
	}

	att := SLAAttainment(eps, t0, day(30), day(25))
	byGroup := map[Group]Attainment{}
	for _, a := range att {
		byGroup[a.Group] = a
	}
	if a := byGroup["kev"]; a.Met != 1 || a.Missed != 2 || a.Pending != 0 {
		t.Errorf("kev attainment = %+v, want met 1 missed 2 (h2 late, h5 open past deadline; h4 excepted not counted)", a)
	}
	if p, ok := byGroup["kev"].Percent(); !ok || int(p) != 33 {
		t.Errorf("kev percent = %v %v", p, ok)
	}
	if _, ok := byGroup["medium"].Percent(); ok {
		t.Error("medium: nothing due, but a percentage")
	}
	dec := SLAAttainment(eps, day(30), day(61), day(25))
	for _, a := range dec {
		if a.Group == "high" && (a.Pending != 1 || a.Met+a.Missed != 0) {
			t.Errorf("high in December judged on day 25 = %+v, want 1 pending", a)
		}
	}

	reg := Regressions(changes, t0, day(30))
	if len(reg) != 1 || reg[0].HostID != "h3" || reg[0].From != plan.Installed || reg[0].To != plan.BlockedVersion {
		t.Errorf("Regressions = %+v", reg)
	}
	if reg := Regressions(changes, day(9), day(30)); len(reg) != 0 {
		t.Errorf("Regressions after day 9 = %+v", reg)
	}
}

func TestStateCodesRoundTrip(t *testing.T) {
	seen := map[int]bool{}
	for _, s := range plan.States {
		c := Code(s)
		if c == 0 || seen[c] {
			t.Errorf("state %s: code %d (zero or duplicate)", s, c)
		}
		seen[c] = true
		if StateOf(c) != s {
			t.Errorf("StateOf(Code(%s)) = %s", s, StateOf(c))
		}
	}
	if StateOf(0) != Gone || Open(Gone) {
		t.Error("Gone")
	}
}

func TestRollupsNoHosts(t *testing.T) {
	p := &plan.Plan{Hosts: plan.HostsOf([]plan.Host{
		{ID: "a", Ring: "canary", Stream: "debian-12", Status: plan.Compliant},
		{ID: "b", Ring: "canary", Stream: "debian-12", Status: plan.NonCompliant, Results: []plan.Result{
			{Rule: plan.Rule{Severity: "critical", KEV: true}, State: plan.Missing, Overdue: true},
			{Rule: plan.Rule{Severity: "high"}, State: plan.Excepted},
		}, Actions: []plan.Action{{Kind: plan.Upgrade}, {Kind: plan.Reboot}}},
	})}
	rs := Rollups(p, []string{"canary", "prod"}, t0.Add(5*time.Hour))
	if len(rs) != 4 {
		t.Fatalf("rollups = %+v", rs)
	}
	byName := map[string]store.Rollup{}
	for _, r := range rs {
		byName[r.Scope+"/"+r.Name] = r
		if !r.Day.Equal(t0) {
			t.Errorf("%s day = %s", r.Name, r.Day)
		}
	}
	c := byName["ring/canary"]
	if c.Hosts != 2 || c.Compliant != 1 || c.Critical != 1 || c.KEV != 1 || c.Overdue != 1 || c.Excepted != 1 || c.RebootPending != 1 {
		t.Errorf("canary = %+v", c)
	}
	if p, ok := Percent(c); !ok || p != 50 {
		t.Errorf("canary percent = %v %v", p, ok)
	}
	if _, ok := Percent(byName["ring/prod"]); ok {
		t.Error("a ring with no hosts has a compliance percentage")
	}
	if byName["stream/debian-12"].Hosts != 2 || byName["fleet/fleet"].Hosts != 2 {
		t.Errorf("stream/fleet = %+v", rs)
	}
}
