package plan

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/vercmp"
)

var now = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// testRepo is a one-ring repository whose baseline has the given rules for
// debian-12.
func testRepo(packages, sources map[string]*baseline.Rule) *baseline.Repository {
	fill := func(m map[string]*baseline.Rule) {
		for _, r := range m {
			if r.Severity == "" {
				r.Severity = "high"
			}
		}
	}
	fill(packages)
	fill(sources)
	ring := &baseline.Ring{Name: "canary", Baseline: "b1", Reboot: "if-required"}
	ring.Selector.Labels = map[string]string{"ring": "canary"}
	repo := &baseline.Repository{
		Baselines: map[string]*baseline.Baseline{"b1": {ID: "b1", Created: "2026-11-03", Digest: "sha256:b1",
			Streams: map[string]*baseline.StreamRules{"debian-12": {Packages: packages, Sources: sources}}}},
		Rings: []*baseline.Ring{ring},
	}
	repo.Config.Streams = map[string]baseline.Stream{"debian-12": {Ecosystem: vercmp.Deb}, "debian-13": {Ecosystem: vercmp.Deb}}
	repo.Config.Rings = []string{"canary"}
	repo.Config.SLA = baseline.SLA{Critical: 15, High: 30, Medium: 90, Low: 180, KEV: 14}
	repo.Config.Reports.StaleAfter = baseline.Duration(72 * time.Hour)
	return repo
}

func pkg(name, version, src, srcVersion string) inventory.Package {
	return inventory.Package{Name: name, Version: version, Arch: "amd64", SourceName: src, SourceVersion: srcVersion}
}

func report(t testing.TB, id string, labels map[string]string, pkgs ...inventory.Package) *inventory.Report {
	t.Helper()
	set, err := inventory.NewPackageSet(vercmp.Deb, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	return &inventory.Report{HostID: id, Stream: "debian-12", Ecosystem: vercmp.Deb, Labels: labels, CollectedAt: now.Add(-time.Hour), Packages: set}
}

var canary = map[string]string{"ring": "canary"}

func TestRuleStates(t *testing.T) {
	base := []inventory.Package{
		pkg("libssl3", "3.0.17-1~deb12u3", "openssl", "3.0.17-1~deb12u3"),
		pkg("openssl", "3.0.19-1~deb12u2", "openssl", "3.0.19-1~deb12u2"),
		pkg("tzdata", "2025b-0+deb12u2", "tzdata", "2025b-0+deb12u2"),
		pkg("libgnutls30", "3.7.9-2+deb12u5", "gnutls28", "3.7.9-2+deb12u5"),
		pkg("python3.11", "3.11.2-6+deb12u6", "python3.11", "3.11.2-6+deb12u6"),
		pkg("curl", "7.88.1-10+deb12u14", "curl", "7.88.1-10+deb12u14"),
	}
	tests := []struct {
		name string
		kind string
		rule baseline.Rule
		want State
		ev   string
	}{
		{"floor met exactly", "package", baseline.Rule{Min: "2025b-0+deb12u2"}, Installed, "tzdata 2025b-0+deb12u2: 2025b-0+deb12u2 = min 2025b-0+deb12u2"},
		{"newer than floor", "package", baseline.Rule{Min: "2025a-0+deb12u1"}, InstalledOther, "tzdata 2025b-0+deb12u2: 2025b-0+deb12u2 > min 2025a-0+deb12u1"},
		{"below floor", "package", baseline.Rule{Min: "2025b-0+deb12u3"}, Missing, "tzdata 2025b-0+deb12u2: 2025b-0+deb12u2 < min 2025b-0+deb12u3"},
		{"tilde sorts before", "package", baseline.Rule{Min: "2025b-0+deb12u2~1"}, InstalledOther, ""},
		{"pin met", "package", baseline.Rule{Pin: "2025b-0+deb12u2"}, Installed, ""},
		{"pin older than installed", "package", baseline.Rule{Pin: "2025b-0+deb12u1"}, Missing, "tzdata 2025b-0+deb12u2: 2025b-0+deb12u2 > pin 2025b-0+deb12u1"},
		{"blocked version", "package", baseline.Rule{Block: []string{"3.7.9-2+deb12u5"}}, BlockedVersion, "libgnutls30 3.7.9-2+deb12u5: 3.7.9-2+deb12u5 = blocked 3.7.9-2+deb12u5"},
		{"other version not blocked", "package", baseline.Rule{Block: []string{"3.7.9-2+deb12u4"}}, Installed, ""},
		{"held", "package", baseline.Rule{Hold: &baseline.Reason{Reason: "certified"}}, Held, ""},
		{"absent, not required", "package", baseline.Rule{Min: "1.0"}, NotApplicable, "package nginx is not installed"},
		{"absent, required", "package", baseline.Rule{Min: "1.0", Required: true}, Missing, "package nginx is not installed; the rule requires it"},
		{"source: worst binary wins", "source", baseline.Rule{Min: "3.0.19-1~deb12u2"}, Missing, "libssl3 3.0.17-1~deb12u3 (source openssl 3.0.17-1~deb12u3): 3.0.17-1~deb12u3 < min 3.0.19-1~deb12u2"},
		{"source: all binaries meet", "source", baseline.Rule{Min: "3.0.17-1~deb12u3"}, Installed, ""},
	}
	names := map[string]string{"floor met exactly": "tzdata", "newer than floor": "tzdata", "below floor": "tzdata", "tilde sorts before": "tzdata",
		"pin met": "tzdata", "pin older than installed": "tzdata", "blocked version": "libgnutls30", "other version not blocked": "libgnutls30",
		"held": "python3.11", "absent, not required": "nginx", "absent, required": "nginx", "source: worst binary wins": "openssl", "source: all binaries meet": "openssl"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule := tt.rule
			rules := map[string]*baseline.Rule{names[tt.name]: &rule}
			repo := testRepo(nil, rules)
			if tt.kind == "package" {
				repo = testRepo(rules, nil)
			}
			p := Compute(Input{Repo: repo, Reports: []*inventory.Report{report(t, "h1", canary, base...)}, Now: now}, Options{})
			res := p.Hosts.At(0).Results
			if len(res) != 1 {
				t.Fatalf("results = %+v", res)
			}
			if res[0].State != tt.want {
				t.Errorf("state = %s, want %s (evidence %q)", res[0].State, tt.want, res[0].Evidence)
			}
			if tt.ev != "" && res[0].Evidence != tt.ev {
				t.Errorf("evidence = %q, want %q", res[0].Evidence, tt.ev)
			}
			wantStatus := Compliant
			if !tt.want.Compliant() {
				wantStatus = NonCompliant
			}
			if p.Hosts.At(0).Status != wantStatus {
				t.Errorf("host status = %s, want %s", p.Hosts.At(0).Status, wantStatus)
			}
		})
	}
}

// TestSourceRuleComparesSourceVersion plants the real Debian case of a
// binary whose version carries an epoch its source lacks: bsdutils
// 1:2.38.1-5+deb12u1 is built from util-linux 2.38.1-5+deb12u1. Comparing
// the binary version with the source floor would call it newer (epoch 1 > 0).
func TestSourceRuleComparesSourceVersion(t *testing.T) {
	rule := map[string]*baseline.Rule{"util-linux": {Min: "2.38.1-5+deb12u3"}}
	for _, tt := range []struct {
		binary, source string
		want           State
	}{
		{"1:2.38.1-5+deb12u1", "2.38.1-5+deb12u1", Missing},
		{"1:2.38.1-5+deb12u3", "2.38.1-5+deb12u3", Installed},
		{"1:2.38.1-5+deb12u4", "2.38.1-5+deb12u4", InstalledOther},
	} {
		r := report(t, "h1", canary, pkg("bsdutils", tt.binary, "util-linux", tt.source))
		p := Compute(Input{Repo: testRepo(nil, rule), Reports: []*inventory.Report{r}, Now: now}, Options{})
		got := p.Hosts.At(0).Results[0]
		if got.State != tt.want {
			t.Errorf("bsdutils %s (source %s) vs util-linux >= 2.38.1-5+deb12u3: %s, want %s", tt.binary, tt.source, got.State, tt.want)
		}
		if got.Installed[0].Compared != tt.source {
			t.Errorf("compared %q, want the source version %q", got.Installed[0].Compared, tt.source)
		}
	}
}

func TestAssignment(t *testing.T) {
	repo := testRepo(map[string]*baseline.Rule{"tzdata": {Min: "2025a"}}, nil)
	pilot := &baseline.Ring{Name: "pilot", Baseline: "b1", Reboot: "if-required"}
	pilot.Selector.Labels = map[string]string{"tier": "web"}
	pilot.Selector.Hosts = []string{"pinned-01"}
	repo.Rings = append(repo.Rings, pilot)
	tz := pkg("tzdata", "2025b-0+deb12u2", "tzdata", "2025b-0+deb12u2")
	reports := []*inventory.Report{
		report(t, "a-canary", canary, tz),
		report(t, "b-both", map[string]string{"ring": "canary", "tier": "web"}, tz),
		report(t, "c-none", map[string]string{"tier": "db"}, tz),
		report(t, "pinned-01", canary, tz), // exact id beats labels
	}
	other := report(t, "d-debian13", canary, tz)
	other.Stream = "debian-13"
	reports = append(reports, other)
	old := report(t, "e-stale", canary, tz)
	old.CollectedAt = now.Add(-73 * time.Hour)
	reports = append(reports, old)

	p := Compute(Input{Repo: repo, Reports: reports, Now: now}, Options{})
	got := map[string]string{}
	for _, h := range p.Hosts.All() {
		got[h.ID] = fmt.Sprintf("%s %s %v", h.Status, h.Ring, h.Candidates)
	}
	want := map[string]string{
		"a-canary":   "COMPLIANT canary []",
		"b-both":     "AMBIGUOUS  [canary pilot]",
		"c-none":     "UNASSIGNED  []",
		"pinned-01":  "COMPLIANT pilot []",
		"d-debian13": "UNCOVERED canary []",
		"e-stale":    "STALE canary []",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("assignment (-want +got):\n%s", diff)
	}
	// A stale host still shows its last known state.
	for _, h := range p.Hosts.All() {
		if h.ID == "e-stale" && (len(h.Results) != 1 || h.Results[0].State != InstalledOther) {
			t.Errorf("stale host results = %+v", h.Results)
		}
	}
	// Filters.
	if q := Compute(Input{Repo: repo, Reports: reports, Now: now}, Options{Ring: "pilot"}); q.Hosts.Len() != 1 || q.Hosts.At(0).ID != "pinned-01" {
		t.Errorf("--ring pilot hosts = %+v", q.Hosts)
	}
}

func TestDeadlinesAndRisk(t *testing.T) {
	tests := []struct {
		name     string
		rule     baseline.Rule
		deadline string
		by       string
		overdue  bool
		risk     int
	}{
		{"high from baseline date", baseline.Rule{Min: "9", Severity: "high"}, "2026-12-03", "sla.high: 30d from baseline b1 created 2026-11-03", false, 30},
		{"kev is stricter", baseline.Rule{Min: "9", Severity: "high", KEV: true}, "2026-11-17", "sla.kev: 14d from baseline b1 created 2026-11-03", true, 70},
		{"critical beats kev", baseline.Rule{Min: "9", Severity: "critical", KEV: true}, "2026-11-17", "sla.kev: 14d from baseline b1 created 2026-11-03", true, 80},
		{"published starts the clock", baseline.Rule{Min: "9", Severity: "critical", Published: "2024-07-01"}, "2024-07-16", "sla.critical: 15d from advisory published 2024-07-01", true, 55},
		{"low", baseline.Rule{Min: "9", Severity: "low"}, "2027-05-02", "sla.low: 180d from baseline b1 created 2026-11-03", false, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule := tt.rule
			p := Compute(Input{Repo: testRepo(map[string]*baseline.Rule{"tzdata": &rule}, nil),
				Reports: []*inventory.Report{report(t, "h1", canary, pkg("tzdata", "1", "tzdata", "1"))}, Now: now}, Options{})
			r := p.Hosts.At(0).Results[0]
			if r.Deadline.Format(time.DateOnly) != tt.deadline || r.DeadlineBy != tt.by || r.Overdue != tt.overdue || r.Risk != tt.risk {
				t.Errorf("deadline %s by %q overdue %v risk %d; want %s by %q overdue %v risk %d",
					r.Deadline.Format(time.DateOnly), r.DeadlineBy, r.Overdue, r.Risk, tt.deadline, tt.by, tt.overdue, tt.risk)
			}
			if p.Hosts.At(0).NextDeadline != r.Deadline || p.Hosts.At(0).Risk != r.Risk {
				t.Errorf("host deadline/risk not taken from its finding")
			}
		})
	}
}

func TestActions(t *testing.T) {
	pkgs := []inventory.Package{
		pkg("libssl3", "3.0.17-1~deb12u3", "openssl", "3.0.17-1~deb12u3"),
		pkg("openssl", "3.0.17-1~deb12u3", "openssl", "3.0.17-1~deb12u3"),
		pkg("libgnutls30", "3.7.9-2+deb12u5", "gnutls28", "3.7.9-2+deb12u5"),
		pkg("tzdata", "2025b-0+deb12u3", "tzdata", "2025b-0+deb12u3"),
		pkg("libc6", "2.36-9+deb12u13", "glibc", "2.36-9+deb12u13"),
	}
	packages := map[string]*baseline.Rule{
		"openssl":     {Min: "3.0.18-1~deb12u1"},
		"libgnutls30": {Block: []string{"3.7.9-2+deb12u5"}, Severity: "medium"},
		"tzdata":      {Pin: "2025b-0+deb12u2"},
	}
	sources := map[string]*baseline.Rule{
		"openssl": {Min: "3.0.19-1~deb12u2"},
		"glibc":   {Min: "2.36-9+deb12u14", Reboot: true},
	}
	for _, tt := range []struct{ reboot string }{{"if-required"}, {"never"}, {"always"}} {
		t.Run(tt.reboot, func(t *testing.T) {
			repo := testRepo(packages, sources)
			repo.Rings[0].Reboot = tt.reboot
			p := Compute(Input{Repo: repo, Reports: []*inventory.Report{report(t, "h1", canary, pkgs...)}, Now: now}, Options{})
			want := []Action{
				{Kind: Upgrade, Package: "libc6", MinSource: "2.36-9+deb12u14", Rules: []string{"source/glibc"}, Reason: "libc6 2.36-9+deb12u13 < min 2.36-9+deb12u14"},
				{Kind: Upgrade, Package: "libgnutls30", Avoid: []string{"3.7.9-2+deb12u5"}, Rules: []string{"package/libgnutls30"}, Reason: "libgnutls30 3.7.9-2+deb12u5 = blocked 3.7.9-2+deb12u5"},
				{Kind: Upgrade, Package: "libssl3", MinSource: "3.0.19-1~deb12u2", Rules: []string{"source/openssl"}, Reason: "libssl3 3.0.17-1~deb12u3 < min 3.0.19-1~deb12u2"},
				// The binary floor and the source floor on openssl merge into one action.
				{Kind: Upgrade, Package: "openssl", Min: "3.0.18-1~deb12u1", MinSource: "3.0.19-1~deb12u2", Rules: []string{"package/openssl", "source/openssl"}, Reason: "openssl 3.0.17-1~deb12u3 < min 3.0.18-1~deb12u1; openssl 3.0.17-1~deb12u3 < min 3.0.19-1~deb12u2"},
				{Kind: Downgrade, Package: "tzdata", Version: "2025b-0+deb12u2", Rules: []string{"package/tzdata"}, Reason: "tzdata 2025b-0+deb12u3 > pin 2025b-0+deb12u2"},
			}
			if tt.reboot != "never" {
				want = append(want, Action{Kind: Reboot, Rules: []string{}, Reason: "ring canary reboot policy " + tt.reboot})
			}
			if diff := cmp.Diff(want, p.Hosts.At(0).Actions); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPendingRebootAndExceptions(t *testing.T) {
	sources := map[string]*baseline.Rule{
		"glibc":   {Min: "2.36-9+deb12u14", Reboot: true},
		"openssl": {Min: "3.0.19-1~deb12u2"},
	}
	repo := testRepo(nil, sources)
	repo.Exceptions = []*baseline.Exception{{ID: "legacy", Ring: "canary", Hosts: []string{"h-excepted"}, Stream: "debian-12", Source: "openssl", Expires: "2026-12-31"}}
	pk := []inventory.Package{pkg("libc6", "2.36-9+deb12u14", "glibc", "2.36-9+deb12u14"), pkg("libssl3", "3.0.17-1~deb12u3", "openssl", "3.0.17-1~deb12u3")}
	reboot := report(t, "h-reboot", canary, pk...)
	reboot.RebootRequired = true
	reports := []*inventory.Report{report(t, "h-excepted", canary, pk...), reboot, report(t, "h-plain", canary, pk...)}

	states := func(p *Plan) map[string]string {
		out := map[string]string{}
		for _, h := range p.Hosts.All() {
			for _, r := range h.Results {
				out[h.ID+" "+r.Rule.Ref()] = string(r.State) + " " + r.Exception
			}
			out[h.ID] = string(h.Status)
		}
		return out
	}
	p := Compute(Input{Repo: repo, Reports: reports, Now: now}, Options{})
	want := map[string]string{
		"h-excepted": "COMPLIANT", "h-excepted source/glibc": "INSTALLED ", "h-excepted source/openssl": "EXCEPTED legacy",
		"h-plain": "NON_COMPLIANT", "h-plain source/glibc": "INSTALLED ", "h-plain source/openssl": "MISSING ",
		"h-reboot": "NON_COMPLIANT", "h-reboot source/glibc": "INSTALLED_PENDING_REBOOT ", "h-reboot source/openssl": "MISSING ",
	}
	if diff := cmp.Diff(want, states(p)); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	if p.Stats.Computations != 1 {
		t.Errorf("three hosts with one set took %d computations", p.Stats.Computations)
	}
	// The excepted host needs no openssl action; the pending reboot host reboots.
	for _, h := range p.Hosts.All() {
		if h.ID == "h-excepted" && len(h.Actions) != 0 {
			t.Errorf("excepted host actions = %+v", h.Actions)
		}
		if h.ID == "h-reboot" && h.Actions[len(h.Actions)-1].Kind != Reboot {
			t.Errorf("pending reboot host actions = %+v", h.Actions)
		}
	}
	// After its expiry the exception no longer counts.
	later := Compute(Input{Repo: repo, Reports: reports, Now: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}, Options{})
	if got := states(later)["h-excepted source/openssl"]; got != "MISSING " {
		t.Errorf("expired exception: %q", got)
	}
}

// loadQuickstart loads the example repository and inventory.
func loadQuickstart(t testing.TB) (*baseline.Repository, []*inventory.Report) {
	t.Helper()
	repo, err := baseline.LoadDir(context.Background(), fixture.Path(t, "examples/quickstart"), baseline.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var reports []*inventory.Report
	dec := &inventory.Decoder{Cache: inventory.NewSetCache()}
	if err := inventory.ReadPath(context.Background(), fixture.Path(t, "examples/quickstart/inventory"), dec, func(r *inventory.Report) error {
		reports = append(reports, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return repo, reports
}

// TestDedupeMatchesPerHost: sharing computations between hosts with the same
// package set, stream and ring gives exactly the per-host answer.
func TestDedupeMatchesPerHost(t *testing.T) {
	repo, reports := loadQuickstart(t)
	// Clone every report under other ids, labels and reboot flags so that
	// sets are shared across hosts with different host-specific facts.
	var fleet []*inventory.Report
	for i := range 5 {
		for _, r := range reports {
			c := *r
			c.HostID = fmt.Sprintf("%s-%d", r.HostID, i)
			c.RebootRequired = i%2 == 1
			if i == 3 {
				c.CollectedAt = now.Add(-100 * time.Hour) // stale
			}
			fleet = append(fleet, &c)
		}
	}
	shared := Compute(Input{Repo: repo, Reports: fleet, Now: now}, Options{})
	alone := Compute(Input{Repo: repo, Reports: fleet, Now: now}, Options{NoDedupe: true})
	if shared.Stats.Computations >= alone.Stats.Computations {
		t.Fatalf("dedupe did not share: %d vs %d computations", shared.Stats.Computations, alone.Stats.Computations)
	}
	if diff := cmp.Diff(alone, shared, cmpopts.IgnoreFields(Plan{}, "Stats"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("dedupe changed the plan (-per-host +shared):\n%s", diff)
	}
}

// TestQuickstartCoversEveryState checks the example inventory shows every
// rule state and every host status the plan can produce for it.
func TestQuickstartCoversEveryState(t *testing.T) {
	repo, reports := loadQuickstart(t)
	p := Compute(Input{Repo: repo, Reports: reports, Now: now}, Options{})
	for _, s := range States {
		if p.Fleet.ByState[s] == 0 {
			t.Errorf("no result in state %s", s)
		}
	}
	for _, s := range []HostStatus{Compliant, NonCompliant, Stale, Unassigned, Ambiguous} {
		if p.Fleet.ByStatus[s] == 0 {
			t.Errorf("no host with status %s", s)
		}
	}
	names, _ := filepath.Glob(fixture.Path(t, "examples/quickstart/inventory/*.json"))
	if len(names) != p.Hosts.Len() || p.Hosts.Len() < 12 {
		t.Errorf("%d reports, %d hosts planned", len(names), p.Hosts.Len())
	}
}
