package advisory_test

import (
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/advisory"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/plan"
)

// TestRefreshTightensKEV: a rule written before its CVE entered KEV is
// planned with the KEV deadline once the feed knows, and the plan says why.
func TestRefreshTightensKEV(t *testing.T) {
	repo := quickstart(t)
	glibc := repo.Baselines["2026-10"].Streams["debian-12"].Sources["glibc"]
	if glibc == nil || glibc.KEV {
		t.Fatalf("fixture changed: 2026-10 debian-12 glibc %+v", glibc)
	}
	// As if the baseline had been written citing the glibc CVE before CISA added it.
	glibc.Advisories = []string{"CVE-2023-4911"}
	db := realDB(t)
	fresh := advisory.Refresh(repo, db)
	if repo.Baselines["2026-10"].Streams["debian-12"].Sources["glibc"].KEV {
		t.Fatal("Refresh modified its input")
	}
	r := fresh.Baselines["2026-10"].Streams["debian-12"].Sources["glibc"]
	if !r.KEV || !strings.Contains(r.Refreshed, "CISA KEV 2025.08.25") {
		t.Fatalf("refreshed rule: %+v", r)
	}
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	reports := readReports(t, fixture.Path(t, "examples/quickstart/inventory"))
	p := plan.Compute(plan.Input{Repo: fresh, Reports: reports, Now: now}, plan.Options{})
	found := false
	for _, h := range p.Hosts.All() {
		if h.Baseline != "2026-10" || h.Stream != "debian-12" {
			continue
		}
		for _, res := range h.Results {
			if res.Rule.Ref() == "source/glibc" {
				found = true
				if !res.Rule.KEV || !strings.HasPrefix(res.DeadlineBy, "sla.kev") || !strings.Contains(res.Rule.Refreshed, "CVE-2023-4911") {
					t.Errorf("%s: kev %v deadline %q refreshed %q", h.ID, res.Rule.KEV, res.DeadlineBy, res.Rule.Refreshed)
				}
			}
		}
	}
	if !found {
		t.Fatal("no host planned on 2026-10's glibc rule")
	}
}
