package advisory_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/advisory"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/plan"
)

func readReports(t *testing.T, dir string) []*inventory.Report {
	t.Helper()
	var out []*inventory.Report
	if err := inventory.ReadPath(context.Background(), dir, &inventory.Decoder{Cache: inventory.NewSetCache()}, func(r *inventory.Report) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestProposeQuickstart: propose on the quickstart writes a baseline that
// validates, and whose plan turns the matched hosts MISSING until they
// reach the fixed versions.
func TestProposeQuickstart(t *testing.T) {
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	dir := fixture.CopyDir(t, fixture.Path(t, "examples/quickstart"))
	repo, err := baseline.LoadDir(context.Background(), dir, baseline.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	db := realDB(t)
	reports := readReports(t, filepath.Join(dir, "inventory"))
	ix := advisory.NewIndex(db, []string{"debian-12", "ubuntu-24.04", "rhel-9", "alpine-3.20"}, nil)
	res := advisory.Match(ix, reports, advisory.MatchOptions{Repo: repo})
	exps := advisory.Rank(res, db, advisory.RankOptions{Repo: repo, Now: now})
	p, err := advisory.Propose(exps, advisory.ProposeOptions{Repo: repo, Now: now, Streams: []string{"ubuntu-24.04"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (%s):\n%s", p.File, p.Mode, p.Source)
	if p.Mode != "hotfix" || p.Extends != "2026-11-hotfix-1" {
		t.Errorf("mode %s extends %q, want a hotfix of the newest baseline", p.Mode, p.Extends)
	}
	// USN-7604-1: sudo on noble fixed in 1.9.15p5-3ubuntu5.24.04.1.
	if !regexp.MustCompile(`sudo: \{\s+min:\s+"1.9.15p5-3ubuntu5.24.04.1"`).Match(p.Source) {
		t.Errorf("no sudo floor at the USN's fixed version")
	}
	if err := os.WriteFile(filepath.Join(dir, p.File), p.Source, 0o644); err != nil {
		t.Fatal(err)
	}
	// Pin canary on the proposal and plan.
	canary := filepath.Join(dir, "rings", "canary.cue")
	b, _ := os.ReadFile(canary)
	b = regexp.MustCompile(`baseline: "[^"]+"`).ReplaceAll(b, []byte(`baseline: "`+p.ID+`"`))
	os.WriteFile(canary, b, 0o644)
	repo2, err := baseline.LoadDir(context.Background(), dir, baseline.Options{Now: now})
	if err != nil {
		t.Fatalf("the proposed baseline does not validate: %v", err)
	}
	state := func(pl *plan.Plan, host, ref string) plan.State {
		for _, h := range pl.Hosts.All() {
			if h.ID != host {
				continue
			}
			for _, r := range h.Results {
				if r.Rule.Ref() == ref {
					return r.State
				}
			}
		}
		return ""
	}
	pl := plan.Compute(plan.Input{Repo: repo2, Reports: reports, Now: now}, plan.Options{})
	if s := state(pl, "ubuntu-canary-01", "source/sudo"); s != plan.Missing {
		t.Errorf("ubuntu-canary-01 source/sudo: %s, want MISSING", s)
	}
	// The host upgrades to the fixed version: compliant for that rule.
	for i, r := range reports {
		if r.HostID != "ubuntu-canary-01" {
			continue
		}
		var pkgs []inventory.Package
		for _, pk := range r.Packages.Packages() {
			if pk.SourceName == "sudo" {
				pk.Version, pk.SourceVersion = "1.9.15p5-3ubuntu5.24.04.1", "1.9.15p5-3ubuntu5.24.04.1"
			}
			pkgs = append(pkgs, pk)
		}
		set, err := inventory.NewPackageSet(r.Ecosystem, pkgs)
		if err != nil {
			t.Fatal(err)
		}
		cp := *r
		cp.Packages = set
		reports[i] = &cp
	}
	pl = plan.Compute(plan.Input{Repo: repo2, Reports: reports, Now: now}, plan.Options{})
	if s := state(pl, "ubuntu-canary-01", "source/sudo"); s != plan.Installed {
		t.Errorf("after the upgrade: %s, want INSTALLED", s)
	}
	if !strings.Contains(string(p.Source), "extends: \"2026-11-hotfix-1\"") {
		t.Error("the hotfix does not extend its base")
	}
}
