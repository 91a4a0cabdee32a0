package advisory_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/advisory"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/fleet"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/inventory"
)

var benchNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func genFleet(tb testing.TB, hosts, sets, packages int) (*baseline.Repository, []*inventory.Report) {
	tb.Helper()
	repo, err := baseline.LoadDir(context.Background(), fixture.Path(tb, "examples/quickstart"), baseline.Options{Now: benchNow})
	if err != nil {
		tb.Fatal(err)
	}
	var seeds []*inventory.Report
	for _, id := range []string{"deb12-canary-01", "ubuntu-canary-01", "rhel9-canary-01", "alpine-canary-01"} {
		if err := inventory.ReadPath(context.Background(), fixture.Path(tb, "examples/quickstart/inventory/"+id+".json"), nil, func(r *inventory.Report) error {
			seeds = append(seeds, r)
			return nil
		}); err != nil {
			tb.Fatal(err)
		}
	}
	opts := fleet.DefaultOptions(hosts, sets, benchNow)
	opts.Packages = packages
	reports, err := fleet.Generate(repo, seeds, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return repo, reports
}

// trackerFor writes a Debian tracker JSON covering every source package
// the fleet's debian-12 hosts run, perCVE entries each, in the tracker's
// real shape and status mix (about 60% resolved with a bookworm fixed
// version around the installed one, 10% never affected, 20% open, 10%
// ignored). The real tracker has no entries for this fleet's derived
// package names; this is its size and shape, not its content.
func trackerFor(reports []*inventory.Report, perSource int) []byte {
	sources := map[string]string{}
	for _, r := range reports {
		if r.Stream != "debian-12" {
			continue
		}
		for _, p := range r.Packages.Packages() {
			sources[p.SourceName] = p.SourceVersion
		}
	}
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Strings(names)
	rng := rand.New(rand.NewPCG(7, 7))
	type rel struct {
		Status       string            `json:"status"`
		Repositories map[string]string `json:"repositories"`
		FixedVersion string            `json:"fixed_version,omitempty"`
		Urgency      string            `json:"urgency"`
		NoDSAReason  string            `json:"nodsa_reason,omitempty"`
	}
	type cve struct {
		Description string         `json:"description"`
		Releases    map[string]rel `json:"releases"`
	}
	doc := map[string]map[string]cve{}
	n := 0
	for _, src := range names {
		v := sources[src]
		m := map[string]cve{}
		for range perSource {
			n++
			id := fmt.Sprintf("CVE-%d-%05d", 2015+n%11, n)
			r := rel{Repositories: map[string]string{"bookworm": v}, Urgency: []string{"not yet assigned", "low", "medium", "high", "unimportant"}[rng.IntN(5)]}
			switch x := rng.IntN(10); {
			case x < 3:
				r.Status, r.FixedVersion = "resolved", v+"+deb12u9" // above installed
			case x < 6:
				r.Status, r.FixedVersion = "resolved", "0.1-1" // below installed
			case x < 7:
				r.Status, r.FixedVersion = "resolved", "0"
			case x < 9:
				r.Status = "open"
			default:
				r.Status, r.NoDSAReason = "open", "ignored"
			}
			m[id] = cve{Description: "synthetic", Releases: map[string]rel{"bookworm": r}}
		}
		doc[src] = m
	}
	data, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return data
}

// BenchmarkMatch: 100,000 hosts over 1,000 distinct package sets (about
// 2,000 packages each), matched against a tracker of the size the real one
// has for those sets. The index is built once, as the server keeps it.
func BenchmarkMatch(b *testing.B) {
	_, reports := genFleet(b, 100_000, 1_000, 2_000)
	data := trackerFor(reports, 20)
	advs, err := advisory.ParseDebianTracker("tracker.json", data, advisory.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	db := &advisory.DB{Advisories: advs}
	start := time.Now()
	ix := advisory.NewIndex(db, []string{"debian-12", "ubuntu-24.04", "rhel-9", "alpine-3.20"}, nil)
	indexMS := float64(time.Since(start).Milliseconds())
	b.ResetTimer()
	var res *advisory.Result
	cpu0 := cpuTime()
	for b.Loop() {
		res = advisory.Match(ix, reports, advisory.MatchOptions{})
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	findings := 0
	for _, s := range res.Sets {
		findings += len(s.Findings)
	}
	b.ReportMetric(float64(len(res.Sets)), "sets")
	b.ReportMetric(indexMS, "index-ms")
	b.ReportMetric(float64(len(advs)), "advisories")
	b.ReportMetric(float64(findings), "set-verdicts")
}
