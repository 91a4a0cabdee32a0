package plan

import (
	"cmp"
	"runtime"
	"slices"

	"github.com/patchbay/patchbay/engine/baseline"
)

// rsKey is a (ring, stream) pair: the roll-ups a host counts in.
type rsKey struct{ ring, stream string }

// counts are what a roll-up counts per host.
type counts struct {
	byStatus [len(HostStatuses)]int
	hosts    int
	reboot   int
}

// fstate identifies a finding.
type fstate struct {
	baseline, stream, kind, name string
	state                        State
}

// gkey identifies hosts that count the same: one results slice (the same
// computation and overlay) with the same ring, stream and baseline.
type gkey struct {
	results                        *Result
	n                              int
	ring, stream, baseline, digest string
}

type group struct {
	key     gkey
	hosts   int
	results []Result
	// samples are the group's findings' sample hosts of one worker.
	samples   []*samples
	saturated bool
}

// rkey is a results slice.
type rkey struct {
	results *Result
	n       int
}

// groupIndex finds groups by their results slice alone, and by the full
// key those whose slice was later seen with another ring, stream or
// baseline: a computation's results belong to one ring and stream, so the
// second map stays empty in a plan, and the first needs no string hashing.
type groupIndex struct {
	byResults map[rkey]*group
	displaced map[gkey]*group
}

func (x *groupIndex) get(k gkey) *group {
	g := x.byResults[rkey{k.results, k.n}]
	if g == nil || g.key == k {
		return g
	}
	return x.displaced[k]
}

// put adds a group that get did not find.
func (x *groupIndex) put(g *group) {
	rk := rkey{g.key.results, g.key.n}
	if old := x.byResults[rk]; old != nil {
		if x.displaced == nil {
			x.displaced = map[gkey]*group{}
		}
		x.displaced[old.key] = old
	}
	if x.byResults == nil {
		x.byResults = map[rkey]*group{}
	}
	x.byResults[rk] = g
}

// samples are a finding's first sample hosts in one worker's range.
type samples struct {
	key fstate
	ids []string
}

// rollPart is what one worker counts over its range of hosts.
type rollPart struct {
	pairs   map[rsKey]*counts
	groups  []*group // in the order of their first host
	samples []*samples
}

// rollUp computes the ring, stream and fleet roll-ups and the findings, on
// workers goroutines (0: GOMAXPROCS) over contiguous ranges of hosts whose
// counts are then added up in host order.
//
// Hosts that share one results slice (the same computation and overlay)
// and the same ring, stream and baseline count the same, so results are
// counted once per such group and multiplied by its hosts; only statuses,
// reboots and sample hosts are counted per host.
func (p *Plan) rollUp(repo *baseline.Repository, workers int) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	parts := make([]rollPart, workers)
	n := forChunks(len(p.Hosts.recs), workers, func(w, lo, hi int) {
		parts[w] = countHosts(p.Hosts.recs[lo:hi], p.Hosts.tab)
	})
	parts = parts[:n]

	fleet := newRollUp("fleet")
	rings := map[string]*RollUp{}
	var ringOrder []string
	for _, r := range repo.Rings {
		rings[r.Name] = newRollUp(r.Name)
		ringOrder = append(ringOrder, r.Name)
	}
	streams := map[string]*RollUp{}
	targets := func(ring, stream string) []*RollUp {
		t := []*RollUp{fleet}
		if r := rings[ring]; r != nil {
			t = append(t, r)
		}
		s := streams[stream]
		if s == nil {
			s = newRollUp(stream)
			streams[stream] = s
		}
		return append(t, s)
	}
	// Merge the workers' groups: a group's place is its first host's.
	var groups groupIndex
	var order []*group
	for _, part := range parts {
		for k, c := range part.pairs {
			for _, t := range targets(k.ring, k.stream) {
				t.Hosts += c.hosts
				t.RebootNeeded += c.reboot
				for i, n := range c.byStatus {
					if n > 0 {
						t.ByStatus[HostStatuses[i]] += n
					}
				}
			}
		}
		for _, g := range part.groups {
			if m := groups.get(g.key); m != nil {
				m.hosts += g.hosts
				continue
			}
			groups.put(g)
			order = append(order, g)
		}
	}
	findings := map[fstate]*Finding{}
	for _, g := range order {
		k := g.key
		for _, res := range g.results {
			if res.State.Compliant() {
				continue
			}
			fk := fstate{k.baseline, k.stream, res.Rule.Kind, res.Rule.Name, res.State}
			f := findings[fk]
			if f == nil {
				f = &Finding{Baseline: k.baseline, BaselineDigest: k.digest, Stream: k.stream, Rule: res.Rule,
					State: res.State, Deadline: res.Deadline, DeadlineBy: res.DeadlineBy, Overdue: res.Overdue, Risk: res.Risk, SampleHosts: []string{}}
				findings[fk] = f
			}
			f.Hosts += g.hosts
		}
	}
	// Sample hosts: the first ones in host order, worker after worker.
	for _, part := range parts {
		for _, s := range part.samples {
			f := findings[s.key]
			f.SampleHosts = append(f.SampleHosts, s.ids[:min(len(s.ids), sampleHosts-len(f.SampleHosts))]...)
		}
	}
	for _, g := range order {
		ts := targets(g.key.ring, g.key.stream)
		for _, res := range g.results {
			open := !res.State.Compliant()
			for _, t := range ts {
				t.ByState[res.State] += g.hosts
				if open && res.Overdue {
					t.Overdue += g.hosts
				}
			}
			// Top missing per roll-up, from the findings of its hosts.
			if res.State == Missing || res.State == BlockedVersion {
				for _, t := range ts {
					t.missing(res.Rule.Ref(), g.hosts)
				}
			}
		}
	}
	finish := func(r *RollUp) RollUp {
		if r.Hosts > 0 {
			r.CompliancePercent = float64(r.ByStatus[Compliant]) * 100 / float64(r.Hosts)
		}
		slices.SortFunc(r.TopMissing, func(a, b PackageCount) int {
			return cmp.Or(cmp.Compare(b.Hosts, a.Hosts), cmp.Compare(a.Rule, b.Rule))
		})
		if len(r.TopMissing) > topMissing {
			r.TopMissing = r.TopMissing[:topMissing]
		}
		return *r
	}
	p.Fleet = finish(fleet)
	p.Rings = []RollUp{}
	for _, name := range ringOrder {
		p.Rings = append(p.Rings, finish(rings[name]))
	}
	p.Streams = []RollUp{}
	for _, name := range sortedKeys(streams) {
		p.Streams = append(p.Streams, finish(streams[name]))
	}
	p.Findings = make([]Finding, 0, len(findings))
	for _, f := range findings {
		p.Findings = append(p.Findings, *f)
	}
	slices.SortFunc(p.Findings, compareFindings)
}

// countHosts counts one worker's range of hosts: statuses and reboots per
// (ring, stream), hosts per group, and the first sample hosts per finding.
func countHosts(hosts []hostRec, tab *hostTables) rollPart {
	part := rollPart{pairs: map[rsKey]*counts{}}
	var groups groupIndex
	bySamples := map[fstate]*samples{}
	var last rsKey
	var c *counts
	for i := range hosts {
		h := &hosts[i]
		var ri ringInfo
		if h.ring >= 0 {
			ri = tab.rings[h.ring]
		}
		if c == nil || ri.name != last.ring || h.stream != last.stream {
			last = rsKey{ri.name, h.stream}
			if c = part.pairs[last]; c == nil {
				c = &counts{}
				part.pairs[last] = c
			}
		}
		c.hosts++
		c.byStatus[statusIndex(statusCodes[h.status])]++
		if h.ov == nil {
			continue
		}
		if a := h.ov.actions; len(a) > 0 && a[len(a)-1].Kind == Reboot {
			c.reboot++
		}
		results := h.ov.results
		if len(results) == 0 {
			continue
		}
		k := gkey{&results[0], len(results), ri.name, h.stream, ri.baseline, ri.digest}
		g := groups.get(k)
		if g == nil {
			g = &group{key: k, results: results}
			groups.put(g)
			for _, res := range results {
				if res.State.Compliant() {
					continue
				}
				fk := fstate{ri.baseline, h.stream, res.Rule.Kind, res.Rule.Name, res.State}
				s := bySamples[fk]
				if s == nil {
					s = &samples{key: fk}
					bySamples[fk] = s
					part.samples = append(part.samples, s)
				}
				g.samples = append(g.samples, s)
			}
			part.groups = append(part.groups, g)
		}
		g.hosts++
		if !g.saturated {
			g.saturated = true
			for _, s := range g.samples {
				if len(s.ids) < sampleHosts {
					s.ids = append(s.ids, h.id)
				}
				g.saturated = g.saturated && len(s.ids) >= sampleHosts
			}
		}
	}
	return part
}

// compareFindings orders findings by KEV, severity, deadline, affected
// hosts (most first) and name.
func compareFindings(a, b Finding) int {
	kev := func(f Finding) int {
		if f.Rule.KEV {
			return 0
		}
		return 1
	}
	return cmp.Or(
		cmp.Compare(kev(a), kev(b)),
		cmp.Compare(severityRank(a.Rule.Severity), severityRank(b.Rule.Severity)),
		a.Deadline.Compare(b.Deadline),
		cmp.Compare(b.Hosts, a.Hosts),
		cmp.Compare(a.Rule.Name, b.Rule.Name),
		cmp.Compare(a.Stream, b.Stream),
		cmp.Compare(a.Rule.Kind, b.Rule.Kind),
		cmp.Compare(a.State, b.State),
		cmp.Compare(a.Baseline, b.Baseline),
	)
}

func severityRank(s string) int {
	switch s {
	case "critical":
		return 0
	case "high":
		return 1
	case "medium":
		return 2
	}
	return 3
}

func newRollUp(name string) *RollUp {
	return &RollUp{Name: name, ByStatus: map[HostStatus]int{}, ByState: map[State]int{}, TopMissing: []PackageCount{}}
}

func (r *RollUp) missing(rule string, hosts int) {
	for i := range r.TopMissing {
		if r.TopMissing[i].Rule == rule {
			r.TopMissing[i].Hosts += hosts
			return
		}
	}
	r.TopMissing = append(r.TopMissing, PackageCount{Rule: rule, Hosts: hosts})
}

// statusIndex is s's index in HostStatuses.
func statusIndex(s HostStatus) int {
	for i, x := range HostStatuses {
		if x == s {
			return i
		}
	}
	panic("plan: unknown host status " + string(s))
}
