package plan

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/vercmp"
)

// sampleHosts bounds Finding.SampleHosts.
const sampleHosts = 20

// topMissing bounds RollUp.TopMissing.
const topMissing = 10

// setKey identifies one shared computation.
type setKey struct {
	hash, stream, ring string
	// host is set only with Options.NoDedupe.
	host string
}

// setEval is the part of a host's plan that depends only on its package
// set, stream and ring. It is shared and never modified.
type setEval struct {
	results []Result
	// actions assume no pending reboot and no exception.
	actions []Action
}

type job struct {
	stream string
	ring   *baseline.Ring
	base   *baseline.Baseline
	eco    vercmp.Ecosystem
	set    *inventory.PackageSet
	ev     *setEval
}

// Compute builds the plan. It never fails: problems with hosts are states.
func Compute(in Input, opts Options) *Plan {
	repo := in.Repo
	now := in.Now.UTC()
	p := &Plan{Now: now, Findings: []Finding{}, Hosts: []Host{}}
	for _, r := range repo.Rings {
		if b := repo.Baselines[r.Baseline]; b != nil {
			p.Baselines = append(p.Baselines, BaselineInfo{Ring: r.Name, ID: b.ID, Digest: b.Digest})
		}
	}

	reports := make([]*inventory.Report, 0, len(in.Reports))
	for _, r := range in.Reports {
		if opts.Host == "" || r.HostID == opts.Host {
			reports = append(reports, r)
		}
	}
	slices.SortStableFunc(reports, func(a, b *inventory.Report) int { return cmp.Compare(a.HostID, b.HostID) })

	// Assign hosts to rings and collect the distinct computations.
	jobs := map[setKey]*job{}
	keys := make([]setKey, len(reports))
	hosts := make([]Host, 0, len(reports))
	for _, r := range reports {
		h := Host{
			ID: r.HostID, Hostname: r.Hostname, Stream: r.Stream, ReportedAt: r.CollectedAt.UTC(),
			RebootRequired: r.RebootRequired, PackageSet: r.Packages.Hash(),
		}
		ring, candidates := assign(repo, r)
		switch {
		case len(candidates) > 1:
			h.Status, h.Candidates = Ambiguous, candidates
		case ring == nil:
			h.Status = Unassigned
		default:
			h.Ring = ring.Name
		}
		if opts.Ring != "" && h.Ring != opts.Ring {
			continue
		}
		eco, declared := repo.Ecosystem(r.Stream)
		if h.Ring != "" {
			base := repo.Baselines[ring.Baseline]
			h.Baseline, h.BaselineDigest = base.ID, base.Digest
			switch {
			case !declared:
				h.Status = UnknownStream
			case base.Streams[r.Stream] == nil:
				h.Status = Uncovered
			default:
				k := setKey{hash: r.Packages.Hash(), stream: r.Stream, ring: ring.Name}
				if opts.NoDedupe {
					k.host = r.HostID
				}
				keys[len(hosts)] = k
				if jobs[k] == nil {
					jobs[k] = &job{stream: r.Stream, ring: ring, base: base, eco: eco, set: r.Packages}
				}
			}
		}
		hosts = append(hosts, h)
	}
	keys = keys[:len(hosts)]

	runJobs(jobs, now, repo.Config.SLA, opts.Workers)

	staleAfter := time.Duration(repo.Config.Reports.StaleAfter)
	for i := range hosts {
		h := &hosts[i]
		j := jobs[keys[i]]
		if j != nil && keys[i] != (setKey{}) {
			r := reportByID(reports, h.ID)
			overlay(h, j, repo, r, now)
		}
		if h.Results == nil {
			h.Results = []Result{}
		}
		if h.Actions == nil {
			h.Actions = []Action{}
		}
		if staleAfter > 0 && now.Sub(h.ReportedAt) > staleAfter {
			h.Stale = true
			h.Status = Stale
		}
	}
	p.Hosts = hosts
	p.Stats = Stats{Hosts: len(hosts), Computations: len(jobs)}
	p.rollUp(repo)
	return p
}

// reportByID finds a report in the sorted slice.
func reportByID(reports []*inventory.Report, id string) *inventory.Report {
	i, _ := slices.BinarySearchFunc(reports, id, func(r *inventory.Report, id string) int { return cmp.Compare(r.HostID, id) })
	return reports[i]
}

// assign finds the host's ring: exact host ids first, then labels. It
// returns the candidate ring names when labels select more than one.
func assign(repo *baseline.Repository, r *inventory.Report) (*baseline.Ring, []string) {
	for _, ring := range repo.Rings {
		if slices.Contains(ring.Selector.Hosts, r.HostID) {
			return ring, nil
		}
	}
	var match []*baseline.Ring
	for _, ring := range repo.Rings {
		if len(ring.Selector.Labels) == 0 {
			continue
		}
		ok := true
		for k, v := range ring.Selector.Labels {
			if r.Labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			match = append(match, ring)
		}
	}
	switch len(match) {
	case 0:
		return nil, nil
	case 1:
		return match[0], nil
	}
	names := make([]string, len(match))
	for i, m := range match {
		names[i] = m.Name
	}
	return nil, names
}

// runJobs evaluates the distinct computations on a bounded worker pool.
func runJobs(jobs map[setKey]*job, now time.Time, sla baseline.SLA, workers int) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ch := make(chan *job)
	var wg sync.WaitGroup
	for range min(workers, max(len(jobs), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				j.ev = evalSet(j, now, sla)
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
}

// evalSet judges every rule of the baseline's stream on one package set.
func evalSet(j *job, now time.Time, sla baseline.SLA) *setEval {
	sr := j.base.Streams[j.stream]
	results := make([]Result, 0, len(sr.Packages)+len(sr.Sources))
	for _, name := range sortedKeys(sr.Packages) {
		r := sr.Packages[name]
		var obs []Observed
		for _, p := range j.set.Find(name) {
			obs = append(obs, observe(j.eco, r, p, p.Version))
		}
		results = append(results, judge(ruleOf("package", name, r), r, obs))
	}
	if len(sr.Sources) > 0 {
		bySource := make(map[string][]Observed, len(sr.Sources))
		for _, p := range j.set.Packages() {
			if r, ok := sr.Sources[p.SourceName]; ok {
				bySource[p.SourceName] = append(bySource[p.SourceName], observe(j.eco, r, p, p.SourceVersion))
			}
		}
		for _, name := range sortedKeys(sr.Sources) {
			r := sr.Sources[name]
			results = append(results, judge(ruleOf("source", name, r), r, bySource[name]))
		}
	}
	slices.SortStableFunc(results, func(a, b Result) int {
		return cmp.Or(cmp.Compare(a.Rule.Name, b.Rule.Name), cmp.Compare(a.Rule.Kind, b.Rule.Kind))
	})
	for i := range results {
		deadline(&results[i], j.base, now, sla)
	}
	return &setEval{results: results, actions: actions(results, j.ring, j.eco)}
}

func ruleOf(kind, name string, r *baseline.Rule) Rule {
	out := Rule{Kind: kind, Name: name, Min: r.Min, Pin: r.Pin, Block: r.Block, Required: r.Required,
		Severity: r.Severity, KEV: r.KEV, Advisories: r.Advisories, Published: string(r.Published), Reboot: r.Reboot, Refreshed: r.Refreshed}
	if r.Hold != nil {
		out.Hold = r.Hold.Reason
	}
	return out
}

// observe judges one installed package against a rule, comparing v (the
// binary version for package rules, the source version for source rules).
func observe(eco vercmp.Ecosystem, r *baseline.Rule, p inventory.Package, v string) Observed {
	o := Observed{Package: p.Name, Arch: p.Arch, Version: p.Version, Compared: v}
	for _, b := range r.Block {
		if vercmp.Compare(eco, v, b) == 0 {
			o.State, o.Comparison = BlockedVersion, v+" = blocked "+b
			return o
		}
	}
	rel := func(target string) string {
		switch vercmp.Compare(eco, v, target) {
		case -1:
			return "<"
		case 1:
			return ">"
		}
		return "="
	}
	switch {
	case r.Hold != nil:
		o.State, o.Comparison = Held, v+" held ("+r.Hold.Reason+")"
	case r.Pin != "":
		op := rel(r.Pin)
		o.State, o.Comparison = Missing, v+" "+op+" pin "+r.Pin
		if op == "=" {
			o.State = Installed
		}
	case r.Min != "":
		op := rel(r.Min)
		o.Comparison = v + " " + op + " min " + r.Min
		switch op {
		case "<":
			o.State = Missing
		case "=":
			o.State = Installed
		default:
			o.State = InstalledOther
		}
	default:
		o.State, o.Comparison = Installed, v+" is not blocked"
	}
	return o
}

// rank orders observation states from worst to best.
func rank(s State) int {
	switch s {
	case BlockedVersion:
		return 0
	case Missing:
		return 1
	case Installed:
		return 2
	case InstalledOther:
		return 3
	}
	return 4
}

// judge turns a rule's observations into its result: the worst instance wins.
func judge(rule Rule, r *baseline.Rule, obs []Observed) Result {
	res := Result{Rule: rule, Installed: obs}
	if len(obs) == 0 {
		if r.Required {
			res.State = Missing
			res.Evidence = fmt.Sprintf("%s %s is not installed; the rule requires it", rule.Kind, rule.Name)
		} else {
			res.State = NotApplicable
			res.Evidence = fmt.Sprintf("%s %s is not installed", rule.Kind, rule.Name)
		}
		return res
	}
	w := 0
	for i := range obs {
		if rank(obs[i].State) < rank(obs[w].State) {
			w = i
		}
	}
	res.State = obs[w].State
	res.Evidence = obs[w].Package + " " + obs[w].Version
	if rule.Kind == "source" {
		res.Evidence += " (source " + rule.Name + " " + obs[w].Compared + ")"
	}
	res.Evidence += ": " + obs[w].Comparison
	return res
}

// deadline sets the SLA deadline and risk of a result; they count only
// while the result is not compliant.
func deadline(res *Result, b *baseline.Baseline, now time.Time, sla baseline.SLA) {
	r := res.Rule
	start, from := b.Created.Time(), "baseline "+b.ID+" created "+string(b.Created)
	if r.Published != "" {
		start, from = baseline.Date(r.Published).Time(), "advisory published "+r.Published
	}
	days, by := sla.Days(r.Severity), "sla."+r.Severity
	if r.KEV && sla.KEV > 0 && sla.KEV < days {
		days, by = sla.KEV, "sla.kev"
	}
	res.Deadline = start.AddDate(0, 0, days)
	res.DeadlineBy = fmt.Sprintf("%s: %dd from %s", by, days, from)
	res.Overdue = now.After(res.Deadline)
	res.Risk = risk(r, res.Overdue, res.State == BlockedVersion)
}

func risk(r Rule, overdue, blocked bool) int {
	score := map[string]int{"critical": 40, "high": 30, "medium": 20, "low": 10}[r.Severity]
	if r.KEV {
		score += 25
	}
	if overdue {
		score += 15
	}
	if blocked {
		score += 10
	}
	return min(score, 100)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
