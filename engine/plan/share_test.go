package plan

import (
	"bytes"
	"testing"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/inventory"
)

// TestEqualResultsShared plans hosts whose package sets differ only in a
// package no rule looks at: their computations are distinct (Stats counts
// them) but their results are one slice, and so is the overlay of two such
// hosts with a pending reboot; sets whose results differ share the
// observations of the rules that look at the same packages. A set that differs in a rule's package, and
// the same set on another ring, get their own. The plan's JSON is the one
// NoDedupe gives.
func TestEqualResultsShared(t *testing.T) {
	repo := testRepo(map[string]*baseline.Rule{
		"curl": {Min: "7.88.1-10+deb12u14", Reboot: true},
	}, map[string]*baseline.Rule{
		"openssl": {Min: "3.0.19-1~deb12u2"},
	})
	prod := &baseline.Ring{Name: "prod", Baseline: "b1", Reboot: "if-required"}
	prod.Selector.Labels = map[string]string{"ring": "prod"}
	repo.Rings = append(repo.Rings, prod)
	repo.Config.Rings = append(repo.Config.Rings, "prod")

	cache := inventory.NewSetCache() // one table, as a decoded fleet has
	host := func(id string, labels map[string]string, reboot bool, curl, vim string) *inventory.Report {
		r := report(t, id, labels,
			pkg("curl", curl, "curl", curl),
			pkg("libssl3", "3.0.17-1~deb12u3", "openssl", "3.0.17-1~deb12u3"),
			pkg("vim", vim, "vim", vim))
		r.Packages = cache.Intern(r.Packages)
		r.RebootRequired = reboot
		return r
	}
	prodLabels := map[string]string{"ring": "prod"}
	reports := []*inventory.Report{
		host("a", canary, false, "7.88.1-10+deb12u14", "2:9.0.1378-2"),
		host("b", canary, false, "7.88.1-10+deb12u14", "2:9.0.1378-2+deb12u1"), // vim differs
		host("c", canary, false, "7.88.1-10+deb12u12", "2:9.0.1378-2"),         // curl differs
		host("d", canary, true, "7.88.1-10+deb12u14", "2:9.0.1378-2"),          // a's set, reboot pending
		host("e", canary, true, "7.88.1-10+deb12u14", "2:9.0.1378-2+deb12u1"),  // b's set, reboot pending
		host("f", prodLabels, false, "7.88.1-10+deb12u14", "2:9.0.1378-2"),     // a's set, other ring
	}
	p := Compute(Input{Repo: repo, Reports: reports, Now: now}, Options{})
	if p.Stats.Computations != 4 {
		t.Fatalf("%d computations, want 4 (sets a, b, c on canary; a on prod)", p.Stats.Computations)
	}
	hosts := map[string]Host{}
	for _, h := range p.Hosts.All() {
		hosts[h.ID] = h
	}
	same := func(x, y string) bool { return &hosts[x].Results[0] == &hosts[y].Results[0] }
	for _, c := range []struct {
		x, y  string
		share bool
	}{
		{"a", "b", true}, {"d", "e", true}, {"a", "c", false}, {"a", "d", false}, {"a", "f", false},
	} {
		if len(hosts[c.x].Results) != 2 || len(hosts[c.y].Results) != 2 {
			t.Fatalf("hosts %s, %s: %d and %d results, want 2", c.x, c.y, len(hosts[c.x].Results), len(hosts[c.y].Results))
		}
		if got := same(c.x, c.y); got != c.share {
			t.Errorf("hosts %s and %s share results: %v, want %v", c.x, c.y, got, c.share)
		}
	}
	// a and c differ in curl only: the openssl rule's observations are one
	// slice, curl's are not.
	if a, c := hosts["a"].Results, hosts["c"].Results; &a[1].Installed[0] != &c[1].Installed[0] || &a[0].Installed[0] == &c[0].Installed[0] {
		t.Errorf("hosts a and c: %s observations shared %v (want true), %s observations shared %v (want false)",
			a[1].Rule.Ref(), &a[1].Installed[0] == &c[1].Installed[0], a[0].Rule.Ref(), &a[0].Installed[0] == &c[0].Installed[0])
	}
	if hosts["d"].Results[0].State != InstalledPendingReboot {
		t.Errorf("host d: curl %s, want %s", hosts["d"].Results[0].State, InstalledPendingReboot)
	}
	alone := Compute(Input{Repo: repo, Reports: reports, Now: now}, Options{NoDedupe: true})
	if got, want := stripStats(planJSON(t, p)), stripStats(planJSON(t, alone)); !bytes.Equal(got, want) {
		t.Errorf("shared results changed the plan:\n%s\nwant (NoDedupe):\n%s", got, want)
	}
}
