package plan

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/inventory"
)

// TestWorkersSamePlan proves that the plan is the same for any number of
// workers: the golden fleet (rings by labels and by host id, AMBIGUOUS,
// UNASSIGNED, UNCOVERED and stale hosts, pending reboots, exceptions by
// ring and by host list) is planned with one worker and with several, each
// given ranges of a few hosts so that computations, overlays and roll-ups
// are split between workers, with the reports and with a sorted compact
// fleet, with and without a ring filter and dedupe.
func TestWorkersSamePlan(t *testing.T) {
	old := minChunk
	minChunk = 7
	t.Cleanup(func() { minChunk = old })
	repo, reports := goldenFleet(t, 900, 40, 150)
	for i, r := range reports {
		if i%11 == 0 { // selected by pilot and prod: AMBIGUOUS
			r.Labels = map[string]string{"ring": "pilot", "env": "production"}
		}
	}
	// Hosts the canary ring names by id, one of them twice, in the middle
	// of the order.
	// Their labels select prod, which the id overrides.
	reports[300].HostID, reports[301].HostID, reports[450].HostID = "deb12-canary-01", "deb12-canary-01", "ubuntu-canary-01"
	for _, i := range []int{300, 301, 450} {
		reports[i].Labels = map[string]string{"env": "production"}
	}
	compact := inventory.NewFleet(len(reports))
	for _, r := range reports {
		compact.Add(r)
	}
	compact.Sort()
	for _, c := range []struct {
		name  string
		in    Input
		opts  Options
		hosts int
	}{
		{name: "reports", in: Input{Reports: reports}},
		{name: "fleet", in: Input{Fleet: compact}},
		{name: "ring", in: Input{Fleet: compact}, opts: Options{Ring: "prod"}},
		{name: "unassigned-ring", in: Input{Reports: reports}, opts: Options{Ring: "pilot"}},
		{name: "no-dedupe", in: Input{Reports: reports}, opts: Options{NoDedupe: true}},
		{name: "host", in: Input{Fleet: compact}, opts: Options{Host: reports[5].HostID}, hosts: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.in.Repo, c.in.Now = repo, now
			one := c.opts
			one.Workers = 1
			want := Compute(c.in, one)
			if c.hosts > 0 && want.Hosts.Len() != c.hosts || want.Hosts.Len() == 0 {
				t.Fatalf("%d hosts planned", want.Hosts.Len())
			}
			if c.hosts == 0 && !slices.ContainsFunc(want.Hosts.Slice(), func(h Host) bool { return h.Ring == "canary" && h.ID == "deb12-canary-01" }) && c.opts.Ring == "" {
				t.Fatal("no host assigned by id")
			}
			wantJSON := planJSON(t, want)
			for _, workers := range []int{2, 3, 8} {
				opts := c.opts
				opts.Workers = workers
				got := Compute(c.in, opts)
				if !bytes.Equal(planJSON(t, got), wantJSON) {
					t.Errorf("%d workers: the plan differs from one worker's (%s)", workers, firstDiff(planJSON(t, got), wantJSON))
				}
			}
		})
	}
}

// firstDiff describes where two JSON documents first differ.
func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-80)
	return fmt.Sprintf("byte %d: %q vs %q", i, a[lo:min(len(a), i+80)], b[lo:min(len(b), i+80)])
}

// TestRollUpSharedResultsAcrossRings: hosts of different rings and streams
// that share one results slice count in their own ring's and stream's
// roll-ups and findings, with one worker and with several (the slice's
// first group is displaced from the index by the second ring's).
func TestRollUpSharedResultsAcrossRings(t *testing.T) {
	old := minChunk
	minChunk = 1
	t.Cleanup(func() { minChunk = old })
	repo := &baseline.Repository{Rings: []*baseline.Ring{{Name: "prod"}, {Name: "pilot"}}}
	results := []Result{{Rule: Rule{Kind: "package", Name: "openssl", Severity: "high"}, State: Missing}}
	host := func(id, ring, stream string) Host {
		return Host{ID: id, Ring: ring, Stream: stream, Baseline: "b1", Status: NonCompliant, Results: results, Actions: []Action{}}
	}
	for _, workers := range []int{1, 2, 4} {
		p := &Plan{Hosts: compactHosts(repo, []Host{
			host("a", "prod", "debian-12"), host("b", "pilot", "debian-12"),
			host("c", "prod", "debian-12"), host("d", "pilot", "ubuntu-24.04"),
		})}
		p.rollUp(repo, workers)
		for _, r := range p.Rings {
			if r.Hosts != 2 || r.ByState[Missing] != 2 {
				t.Errorf("%d workers: ring %s counts %d hosts, %d MISSING; want 2 and 2", workers, r.Name, r.Hosts, r.ByState[Missing])
			}
		}
		if len(p.Streams) != 2 || p.Streams[0].ByState[Missing] != 3 || p.Streams[1].ByState[Missing] != 1 {
			t.Errorf("%d workers: streams %+v", workers, p.Streams)
		}
		var got []string
		for _, f := range p.Findings {
			got = append(got, fmt.Sprintf("%s %d %v", f.Stream, f.Hosts, f.SampleHosts))
		}
		if want := []string{"debian-12 3 [a b c]", "ubuntu-24.04 1 [d]"}; !slices.Equal(got, want) {
			t.Errorf("%d workers: findings %q, want %q", workers, got, want)
		}
	}
}

// compactHosts holds hosts made by hand as a computed plan holds its
// hosts (records and shared tables), so that rollUp can count them.
func compactHosts(repo *baseline.Repository, list []Host) Hosts {
	tab := &hostTables{}
	ringIdx := map[string]int32{}
	for _, r := range repo.Rings {
		ringIdx[r.Name] = int32(len(tab.rings))
		tab.rings = append(tab.rings, ringInfo{name: r.Name})
	}
	recs := make([]hostRec, len(list))
	for i, h := range list {
		r := hostRec{id: h.ID, hostname: h.Hostname, stream: h.Stream, set: h.PackageSet, ring: -1, cand: -1,
			sec: h.ReportedAt.Unix(), nsec: int32(h.ReportedAt.Nanosecond()), status: statusCode(h.Status), stale: h.Stale, reboot: h.RebootRequired,
			ov: &overlaid{results: h.Results, actions: h.Actions, status: h.Status, risk: h.Risk, next: h.NextDeadline}}
		if h.Ring != "" {
			k, ok := ringIdx[h.Ring]
			if !ok {
				panic("compactHosts: no ring " + h.Ring)
			}
			r.ring = k
			tab.rings[k].baseline, tab.rings[k].digest = h.Baseline, h.BaselineDigest
		}
		recs[i] = r
	}
	return Hosts{recs: recs, tab: tab}
}
