package cycle_test

import (
	"archive/zip"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/advisory"
	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/cycle"
	"github.com/patchbay/patchbay/engine/github"
	"github.com/patchbay/patchbay/engine/github/githubtest"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/inventory"
)

func sched(every string, week any, weekday, at, tz string) *baseline.CycleSchedule {
	return &baseline.CycleSchedule{Every: every, Week: week, Weekday: weekday, At: at, Timezone: tz}
}

func TestCurrent(t *testing.T) {
	tests := []struct {
		name string
		s    *baseline.CycleSchedule
		now  string
		want string
	}{
		{"second tuesday, after", sched("month", float64(2), "tuesday", "10:00", "UTC"), "2026-12-08T10:00:00Z", "2026-12-08"},
		{"second tuesday, an hour before", sched("month", float64(2), "tuesday", "10:00", "UTC"), "2026-12-08T09:00:00Z", "2026-11-10"},
		{"second tuesday, late in the month", sched("month", float64(2), "tuesday", "10:00", "UTC"), "2026-12-31T23:00:00Z", "2026-12-08"},
		{"last friday", sched("month", "last", "friday", "00:00", "UTC"), "2026-12-30T00:00:00Z", "2026-12-25"},
		{"last friday, before it", sched("month", "last", "friday", "00:00", "UTC"), "2026-12-24T00:00:00Z", "2026-11-27"},
		{"weekly monday in Berlin", sched("week", nil, "monday", "06:00", "Europe/Berlin"), "2026-12-07T04:59:00Z", "2026-11-30"},
		{"weekly monday in Berlin, at", sched("week", nil, "monday", "06:00", "Europe/Berlin"), "2026-12-07T05:00:00Z", "2026-12-07"},
		{"daily", sched("day", nil, "", "23:30", "UTC"), "2026-12-07T23:00:00Z", "2026-12-06"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now, _ := time.Parse(time.RFC3339, tc.now)
			p, err := cycle.Current(tc.s, now)
			if err != nil {
				t.Fatal(err)
			}
			if p.Key != tc.want || p.Start.After(now) {
				t.Fatalf("period %s starting %s, want %s", p.Key, p.Start, tc.want)
			}
		})
	}
}

// feeds serves the real Ubuntu security notices (OSV, as an all.zip), the
// real KEV catalogue and the real EPSS sample, as the feeds' hosts would.
func feeds(t *testing.T) *httptest.Server {
	t.Helper()
	var zb bytes.Buffer
	z := zip.NewWriter(&zb)
	ms, _ := filepath.Glob(fixture.Shared(t, "advisories/ubuntu/ubuntu-security-notices/osv/usn") + "/*.json")
	if len(ms) == 0 {
		t.Fatal("no Ubuntu notices in the shared test data")
	}
	for _, m := range ms {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := z.Create(filepath.Base(m))
		w.Write(b)
	}
	z.Close()
	files := map[string][]byte{"/ubuntu/all.zip": zb.Bytes()}
	for path, rel := range map[string]string{"/kev.json": "advisories/kev/known_exploited_vulnerabilities.json", "/epss.csv": "vulndata/epss/epss_scores-2026-09-29.SAMPLE.csv"} {
		b, err := os.ReadFile(fixture.Shared(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		files[path] = b
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// quickstartGit is the quickstart as a Git repository: the patch
// repository the pull requests go to.
func quickstartGit(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not on PATH")
	}
	dir := fixture.CopyDir(t, fixture.Path(t, "examples/quickstart"))
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "quickstart"}} {
		cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

// TestStoryFromAdvisoryToGate: sync (the real feeds over HTTP) → match
// (the quickstart's real inventories) → propose → pull request on the
// GitHub test server (real Git objects) → the normal pull request gate
// evaluates it and reports patchbay/gate on its head; a rerun of the cycle
// for the same period opens nothing new.
func TestStoryFromAdvisoryToGate(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 8, 11, 0, 0, 0, time.UTC)
	srv := feeds(t)
	cache := t.TempDir()
	srcs := advisory.Sources(map[string][]string{"ubuntu-24.04": {srv.URL + "/ubuntu/all.zip"}}, srv.URL+"/kev.json", srv.URL+"/epss.csv")
	if _, err := advisory.Sync(ctx, cache, srcs, advisory.SyncOptions{Client: srv.Client()}); err != nil {
		t.Fatal(err)
	}
	db, err := advisory.LoadDir(ctx, cache, false)
	if err != nil {
		t.Fatal(err)
	}

	dir := quickstartGit(t)
	var reports []*inventory.Report
	if err := inventory.ReadPath(ctx, filepath.Join(dir, "inventory"), &inventory.Decoder{Cache: inventory.NewSetCache()}, func(r *inventory.Report) error {
		reports = append(reports, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	repo, err := gitrepo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	head, err := repo.Resolve("refs/heads/main")
	if err != nil {
		t.Fatal(err)
	}
	tree, err := repo.TreeFS(head)
	if err != nil {
		t.Fatal(err)
	}
	model, err := baseline.Load(ctx, tree, baseline.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}

	gs := githubtest.New(t, "o", "r")
	gs.Token = "ghs_app_installation"
	if err := gs.ServeGit(dir); err != nil {
		t.Fatal(err)
	}
	client, err := github.NewClient(github.ClientConfig{APIURL: gs.APIURL(), Tokens: github.StaticToken(gs.Token)})
	if err != nil {
		t.Fatal(err)
	}
	in := cycle.Input{
		Cycle: baseline.Cycle{Name: "monthly", Schedule: sched("month", float64(2), "tuesday", "10:00", "UTC")},
		Repo:  model, Tree: tree, BaseBranch: "main", BaseCommit: head.String(), DB: db, Reports: reports, Now: now,
		Owner: "o", Name: "r", Client: client,
	}
	res, err := cycle.Run(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	rec := res.Record
	if err := rec.Validate(); err != nil {
		t.Fatalf("record: %v", err)
	}
	if rec.Outcome != audit.CycleOpened || rec.Period != "2026-12-08" || rec.Branch != "patchbay/cycle/monthly/2026-12-08" || rec.PR != 1 ||
		rec.BaselineID != "monthly-2026-12-08" || rec.Rules == 0 || !strings.HasPrefix(rec.BaselineDigest, "sha256:") {
		t.Fatalf("record %+v", rec)
	}
	// USN-7604-1: sudo on noble, fixed in 1.9.15p5-3ubuntu5.24.04.1.
	src, err := exec.Command("git", "-C", dir, "show", rec.HeadSHA+":baselines/monthly-2026-12-08.cue").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), `"1.9.15p5-3ubuntu5.24.04.1"`) || !strings.Contains(string(src), "USN-7604-1") {
		t.Fatalf("the proposed baseline lacks the sudo floor:\n%s", src)
	}
	pr := gs.Created()[0]
	for _, want := range []string{"proposal cycle **monthly**", "the second tuesday of every month at 10:00 UTC", "### Rules", "### Plan delta if the first ring pinned it", "### Ranked advisories", "USN-7604-1"} {
		if !strings.Contains(pr.Body, want) {
			t.Errorf("pull request body lacks %q", want)
		}
	}

	// The normal gate path evaluates the pull request from Git.
	svc := &github.Service{Client: client, Checks: true, Now: func() time.Time { return now },
		Git:     github.MirrorGit{Remote: gitrepo.Remote{URL: dir, CacheDir: t.TempDir()}},
		Reports: func(context.Context) ([]*inventory.Report, error) { return reports, nil }}
	out, err := svc.GatePR(ctx, github.PRRef{Owner: "o", Repo: "r", Number: rec.PR})
	if err != nil {
		t.Fatal(err)
	}
	if out.Result == nil || out.Result.HeadCommit != rec.HeadSHA {
		t.Fatalf("gate evaluated %+v", out)
	}
	checks := gs.Checks()
	if len(checks) != 1 || checks[0].Name != github.CheckName || checks[0].HeadSHA != rec.HeadSHA || checks[0].Conclusion == "" {
		t.Fatalf("checks %+v", checks)
	}
	if !strings.Contains(out.Body, "monthly-2026-12-08") {
		t.Errorf("the gate comment does not name the proposed baseline:\n%s", out.Body)
	}
	t.Logf("gate: %s (%s)", out.Result.Decision.Result, out.State)

	// A restart in the same period: the branch exists, the pull request is
	// found, nothing is committed or opened.
	again, err := cycle.Run(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if again.Record.Outcome != audit.CycleExisting || again.Record.PR != 1 || len(gs.Created()) != 1 || gs.Count("POST /repos/{owner}/{repo}/git/commits") != 1 {
		t.Fatalf("rerun: %+v, %d pull requests", again.Record, len(gs.Created()))
	}
	// The next month is a new period and a new pull request.
	in.Now = time.Date(2027, 1, 12, 10, 0, 0, 0, time.UTC)
	next, err := cycle.Run(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if next.Record.Outcome != audit.CycleOpened || next.Record.Period != "2027-01-12" || next.Record.PR != 2 {
		t.Fatalf("next period: %+v", next.Record)
	}
}

// TestKEVCycle: a KEV cycle proposes only the fixes of KEV-listed
// advisories, keys its period by the KEV entries covered, says its
// deadline (dateAdded + within) and whether it was late, and opens one
// pull request per period.
func TestKEVCycle(t *testing.T) {
	ctx := context.Background()
	srv := feeds(t)
	cache := t.TempDir()
	// The real Alpine 3.20 git record: CVE-2025-48384 (KEV, added
	// 2025-08-25) fixed in 2.45.4-r0.
	gitRec, err := os.ReadFile(fixture.Shared(t, "advisories/alpine/vuln-list/alpine/3.20/main/git.json"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/alpine/git.json", func(w http.ResponseWriter, _ *http.Request) { w.Write(gitRec) })
	mux.Handle("/", srv.Config.Handler)
	feedSrv := httptest.NewServer(mux)
	defer feedSrv.Close()
	srcs := advisory.Sources(map[string][]string{"alpine-3.20": {feedSrv.URL + "/alpine/git.json"}, "ubuntu-24.04": {feedSrv.URL + "/ubuntu/all.zip"}},
		feedSrv.URL+"/kev.json", feedSrv.URL+"/epss.csv")
	if _, err := advisory.Sync(ctx, cache, srcs, advisory.SyncOptions{Client: feedSrv.Client()}); err != nil {
		t.Fatal(err)
	}
	db, err := advisory.LoadDir(ctx, cache, false)
	if err != nil {
		t.Fatal(err)
	}
	dir := quickstartGit(t)
	var reports []*inventory.Report
	if err := inventory.ReadPath(ctx, filepath.Join(dir, "inventory"), &inventory.Decoder{Cache: inventory.NewSetCache()}, func(r *inventory.Report) error {
		if r.HostID == "alpine-canary-01" {
			// The real report with git 2.45.2-r0 installed.
			pkgs := append(r.Packages.Packages(), inventory.Package{Name: "git", Version: "2.45.2-r0", Arch: "x86_64", SourceName: "git", SourceVersion: "2.45.2-r0"})
			set, err := inventory.NewPackageSet(r.Ecosystem, pkgs)
			if err != nil {
				return err
			}
			cp := *r
			cp.Packages = set
			r = &cp
		}
		reports = append(reports, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	model, err := baseline.LoadDir(ctx, dir, baseline.Options{Now: time.Date(2025, 8, 25, 12, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	gs := githubtest.New(t, "o", "r")
	gs.Token = "ghs_app_installation"
	if err := gs.ServeGit(dir); err != nil {
		t.Fatal(err)
	}
	client, _ := github.NewClient(github.ClientConfig{APIURL: gs.APIURL(), Tokens: github.StaticToken(gs.Token)})
	base := strings.TrimSpace(string(must(exec.Command("git", "-C", dir, "rev-parse", "main").Output())))
	in := cycle.Input{Cycle: baseline.Cycle{Name: "kev", KEV: &baseline.CycleKEV{Within: baseline.Duration(24 * time.Hour)}},
		Repo: model, Tree: os.DirFS(dir), BaseBranch: "main", BaseCommit: base, DB: db, Reports: reports,
		Now: time.Date(2025, 8, 25, 12, 0, 0, 0, time.UTC), Owner: "o", Name: "r", Client: client}
	res, err := cycle.Run(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	rec := res.Record
	if err := rec.Validate(); err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != audit.CycleOpened || !strings.HasPrefix(rec.Period, "kev-2025-08-25-") || rec.Late ||
		rec.Deadline == nil || !rec.Deadline.Equal(time.Date(2025, 8, 26, 0, 0, 0, 0, time.UTC)) || !slicesContain(rec.KEV, "CVE-2025-48384") {
		t.Fatalf("record %+v", rec)
	}
	for _, c := range res.Proposal.Covered {
		if !c.KEV {
			t.Errorf("a KEV cycle proposed a rule for non-KEV advisories: %+v", c)
		}
	}
	if !strings.Contains(string(res.Proposal.Source), `"2.45.4-r0"`) {
		t.Fatalf("no git floor at 2.45.4-r0:\n%s", res.Proposal.Source)
	}
	// Two days later, unchanged catalogue: the same period, no second PR.
	in.Now = in.Now.Add(48 * time.Hour)
	again, err := cycle.Run(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if again.Record.Period != rec.Period || again.Record.Outcome != audit.CycleExisting || len(gs.Created()) != 1 || again.Record.Late {
		t.Fatalf("rerun %+v", again.Record)
	}
	// A cycle that first runs then (a server that was down) opens its pull
	// request past the deadline, and says so.
	in.Cycle.Name = "kev-urgent"
	late, err := cycle.Run(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if late.Record.Outcome != audit.CycleOpened || !late.Record.Late {
		t.Fatalf("late run %+v", late.Record)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
