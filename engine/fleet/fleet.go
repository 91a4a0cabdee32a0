// Package fleet generates synthetic but realistic host reports for
// benchmarks, load tests and demos. Every generated package list is derived
// from a real one (the seed reports, built from real package databases):
// versions of the packages a baseline has rules for are moved below, to,
// above or onto a blocked version of the rule, and lists may be padded to a
// target size with copies of real packages under derived names.
//
// Generation is deterministic for a given seed. It imports baseline,
// inventory and vercmp only and does no I/O.
package fleet

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/vercmp"
)

// Options shape a fleet.
type Options struct {
	// Hosts is the number of reports.
	Hosts int
	// DistinctSets is the number of distinct package sets; hosts share them.
	DistinctSets int
	// Packages pads every package list to about this many packages; 0 keeps
	// the seed's size.
	Packages int
	// Seed makes the fleet reproducible.
	Seed uint64
	// Now is when the reports were collected (stale ones earlier).
	Now time.Time
	// StaleFraction, RebootFraction and UnassignedFraction of hosts are
	// stale, need a reboot, or carry no ring label.
	StaleFraction, RebootFraction, UnassignedFraction float64
}

// DefaultOptions are a realistic mix: 2% stale, 5% pending reboot, 0.5%
// unassigned.
func DefaultOptions(hosts, sets int, now time.Time) Options {
	return Options{Hosts: hosts, DistinctSets: sets, Seed: 1, Now: now, StaleFraction: 0.02, RebootFraction: 0.05, UnassignedFraction: 0.005}
}

// streamShare is how a fleet spreads over the seed streams, by weight.
var streamShare = map[string]int{"debian-12": 50, "ubuntu-24.04": 20, "rhel-9": 20, "alpine-3.20": 10}

// Generate returns opts.Hosts reports over opts.DistinctSets package sets
// derived from the seeds (one real report per stream). Hosts are labelled
// for the repository's rings in the proportions 5% first ring, 20% second,
// the rest last, using each ring's label selector.
func Generate(repo *baseline.Repository, seeds []*inventory.Report, opts Options) ([]*inventory.Report, error) {
	out := make([]*inventory.Report, 0, max(opts.Hosts, 0))
	err := generate(repo, seeds, opts, func(r *inventory.Report) { out = append(out, r) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GenerateFleet is Generate into a compact fleet, sorted by host ID: the
// same hosts without a million *Report values.
func GenerateFleet(repo *baseline.Repository, seeds []*inventory.Report, opts Options) (*inventory.Fleet, error) {
	f := inventory.NewFleet(max(opts.Hosts, 0))
	if err := generate(repo, seeds, opts, f.Add); err != nil {
		return nil, err
	}
	f.Sort()
	return f, nil
}

func generate(repo *baseline.Repository, seeds []*inventory.Report, opts Options, emit func(*inventory.Report)) error {
	if opts.Hosts <= 0 || opts.DistinctSets <= 0 {
		return fmt.Errorf("generate fleet: hosts and distinct sets must be positive")
	}
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	var streams []*inventory.Report
	var weights []int
	for _, s := range seeds {
		if _, ok := repo.Config.Streams[s.Stream]; !ok {
			continue
		}
		w := streamShare[s.Stream]
		if w == 0 {
			w = 10
		}
		streams = append(streams, s)
		weights = append(weights, w)
	}
	if len(streams) == 0 {
		return fmt.Errorf("generate fleet: no seed report has a stream declared in the repository")
	}
	sort.SliceStable(streams, func(i, j int) bool { return streams[i].Stream < streams[j].Stream })

	// The sets share one cache, so they share their packages' storage.
	cache := inventory.NewSetCache()
	sets := make([]*inventory.Report, opts.DistinctSets) // a template report per set
	for i := range sets {
		seed := streams[pick(rng, weights)]
		set, err := variant(repo, seed, opts.Packages, i, rng)
		if err != nil {
			return fmt.Errorf("generate fleet: %w", err)
		}
		tmpl := *seed
		tmpl.Packages = cache.Intern(set)
		sets[i] = &tmpl
	}

	labels := ringLabels(repo)
	for i := range opts.Hosts {
		t := sets[i%len(sets)]
		r := *t
		r.HostID = fmt.Sprintf("%s-%06d", strings.SplitN(t.Stream, "-", 2)[0], i)
		r.Hostname = r.HostID + ".fleet.example"
		r.AgentVersion = "patchbay-fleet-generator"
		r.CollectedAt = opts.Now.Add(-time.Duration(rng.IntN(3600)) * time.Second)
		r.RebootRequired = rng.Float64() < opts.RebootFraction
		if rng.Float64() < opts.StaleFraction {
			r.CollectedAt = opts.Now.Add(-5 * 24 * time.Hour)
		}
		r.Labels = map[string]string{"site": []string{"fra1", "ams2", "iad1"}[rng.IntN(3)]}
		if rng.Float64() >= opts.UnassignedFraction && len(labels) > 0 {
			x := rng.IntN(100)
			idx := len(labels) - 1
			switch {
			case x < 5:
				idx = 0
			case x < 25 && len(labels) > 1:
				idx = 1
			}
			for k, v := range labels[idx] {
				r.Labels[k] = v
			}
		}
		emit(&r)
	}
	return nil
}

// ringLabels returns each ring's label selector, in promotion order.
func ringLabels(repo *baseline.Repository) []map[string]string {
	var out []map[string]string
	for _, r := range repo.Rings {
		if len(r.Selector.Labels) > 0 {
			out = append(out, r.Selector.Labels)
		}
	}
	return out
}

func pick(rng *rand.Rand, weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	x := rng.IntN(total)
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// variant derives one package set from a seed: every package a rule of any
// baseline names (by binary or source) gets a version around the rule.
//
// n numbers the variant: one package no rule names gets a rebuild suffix
// with n (as a distribution's binary-only rebuild would), so every variant is
// a distinct set.
func variant(repo *baseline.Repository, seed *inventory.Report, size, n int, rng *rand.Rand) (*inventory.PackageSet, error) {
	eco := seed.Ecosystem
	rules := map[string]*baseline.Rule{} // "package/x" or "source/x" → rule (the newest baseline's wins)
	for _, id := range repo.BaselineIDs() {
		sr := repo.Baselines[id].Streams[seed.Stream]
		if sr == nil {
			continue
		}
		for n, r := range sr.Packages {
			rules["package/"+n] = r
		}
		for n, r := range sr.Sources {
			rules["source/"+n] = r
		}
	}
	src := seed.Packages.Packages()
	pkgs := make([]inventory.Package, 0, max(size, len(src)))
	choice := map[string]string{} // rule ref → chosen version, so binaries of a source agree
	for _, p := range src {
		for _, ref := range []string{"package/" + p.Name, "source/" + p.SourceName} {
			r := rules[ref]
			if r == nil {
				continue
			}
			v, ok := choice[ref]
			if !ok {
				v = around(eco, r, rng)
				choice[ref] = v
			}
			if v == "" {
				continue
			}
			if strings.HasPrefix(ref, "source/") {
				p.SourceVersion = v
				p.Version = keepEpoch(p.Version, v)
			} else {
				p.Version = v
				if p.SourceName == p.Name {
					p.SourceVersion = v
				}
			}
		}
		pkgs = append(pkgs, p)
	}
	for i := 0; len(pkgs) < size; i++ {
		p := src[i%len(src)]
		p.Name = fmt.Sprintf("%s-x%d", p.Name, i/len(src)+1)
		p.SourceName = p.Name // a padding package is its own source
		p.SourceVersion = p.Version
		pkgs = append(pkgs, p)
	}
	for _, i := range rng.Perm(len(pkgs)) {
		p := &pkgs[i]
		if rules["package/"+p.Name] != nil || rules["source/"+p.SourceName] != nil {
			continue
		}
		p.Version = rebuild(eco, p.Version, n)
		if p.SourceName == p.Name {
			p.SourceVersion = p.Version
		}
		break
	}
	return inventory.NewPackageSet(eco, pkgs)
}

// around returns a version below, at, above or onto a blocked version of the
// rule, or "" to keep the seed's version.
func around(eco vercmp.Ecosystem, r *baseline.Rule, rng *rand.Rand) string {
	target := r.Min
	if r.Pin != "" {
		target = r.Pin
	}
	x := rng.IntN(100)
	switch {
	case len(r.Block) > 0 && x < 5:
		return r.Block[rng.IntN(len(r.Block))]
	case target == "" || x < 10:
		return ""
	case x < 30:
		return below(eco, target)
	case x < 65:
		return target
	}
	return above(eco, target)
}

// below returns a valid version just before v in the ecosystem's order.
func below(eco vercmp.Ecosystem, v string) string {
	switch eco {
	case vercmp.APK:
		// 1.2.5-r1 → 1.2.5_rc1-r1 (a release candidate sorts first).
		if i := strings.LastIndex(v, "-r"); i > 0 {
			return v[:i] + "_rc1" + v[i:]
		}
		return v + "_rc1"
	}
	return v + "~pre1" // deb and rpm: a tilde sorts before everything
}

// above returns a valid version just after v.
func above(eco vercmp.Ecosystem, v string) string {
	switch eco {
	case vercmp.APK:
		if i := strings.LastIndex(v, "-r"); i > 0 {
			if n, err := strconv.Atoi(v[i+2:]); err == nil {
				return v[:i] + "-r" + strconv.Itoa(n+1)
			}
		}
		return v + "-r1"
	case vercmp.RPM:
		return v + ".1"
	}
	return v + "+b1"
}

// rebuild marks a version as the n-th local rebuild: deb "+bN", rpm ".N",
// apk a higher "-rN".
func rebuild(eco vercmp.Ecosystem, v string, n int) string {
	switch eco {
	case vercmp.APK:
		if i := strings.LastIndex(v, "-r"); i > 0 {
			if r, err := strconv.Atoi(v[i+2:]); err == nil {
				return v[:i] + "-r" + strconv.Itoa(r+1000+n)
			}
		}
		return v + "-r" + strconv.Itoa(1000+n)
	case vercmp.RPM:
		return v + "." + strconv.Itoa(n+1)
	}
	return v + "+b" + strconv.Itoa(n+1)
}

// keepEpoch gives a binary the source version, keeping the binary's own
// epoch when the source version has none (bsdutils 1:2.38… from util-linux 2.38…).
func keepEpoch(binary, source string) string {
	if strings.Contains(source, ":") {
		return source
	}
	if i := strings.Index(binary, ":"); i > 0 {
		return binary[:i+1] + source
	}
	return source
}
