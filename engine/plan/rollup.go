package plan

import (
	"cmp"
	"slices"

	"github.com/patchbay/patchbay/engine/baseline"
)

// rollUp computes the ring, stream and fleet roll-ups and the findings.
//
// Hosts that share one results slice (the same computation and overlay)
// and the same ring, stream and baseline count the same, so results are
// counted once per such group and multiplied by its hosts; only statuses,
// reboots and sample hosts are counted per host.
func (p *Plan) rollUp(repo *baseline.Repository) {
	fleet := newRollUp("fleet")
	rings := map[string]*RollUp{}
	var ringOrder []string
	for _, r := range repo.Rings {
		rings[r.Name] = newRollUp(r.Name)
		ringOrder = append(ringOrder, r.Name)
	}
	streams := map[string]*RollUp{}
	type fkey struct{ baseline, stream, kind, name string }
	type fstate struct {
		fkey
		state State
	}
	findings := map[fstate]*Finding{}
	type gkey struct {
		results                        *Result
		n                              int
		ring, stream, baseline, digest string
	}
	type group struct {
		key       gkey
		hosts     int
		results   []Result
		targets   []*RollUp
		findings  []*Finding
		saturated bool
	}
	groups := map[gkey]*group{}
	// byResults finds a group by its results slice alone: a computation's
	// results belong to one ring and stream, so the full key is checked
	// only when that slice was first seen with another ring or stream.
	type rkey struct {
		results *Result
		n       int
	}
	byResults := map[rkey]*group{}
	var order []*group
	type counts struct {
		byStatus [len(HostStatuses)]int
		hosts    int
		reboot   int
	}
	per := map[*RollUp]*counts{}
	count := func(t *RollUp) *counts {
		c := per[t]
		if c == nil {
			c = &counts{}
			per[t] = c
		}
		return c
	}
	var last struct {
		ring, stream string
		targets      []*RollUp
		counts       []*counts
	}
	for i := range p.Hosts {
		h := &p.Hosts[i]
		if last.targets == nil || h.Ring != last.ring || h.Stream != last.stream {
			targets := []*RollUp{fleet}
			if r := rings[h.Ring]; r != nil {
				targets = append(targets, r)
			}
			s := streams[h.Stream]
			if s == nil {
				s = newRollUp(h.Stream)
				streams[h.Stream] = s
			}
			targets = append(targets, s)
			last.ring, last.stream, last.targets = h.Ring, h.Stream, targets
			last.counts = last.counts[:0]
			for _, t := range targets {
				last.counts = append(last.counts, count(t))
			}
		}
		reboot := len(h.Actions) > 0 && h.Actions[len(h.Actions)-1].Kind == Reboot
		st := statusIndex(h.Status)
		for _, c := range last.counts {
			c.hosts++
			c.byStatus[st]++
			if reboot {
				c.reboot++
			}
		}
		if len(h.Results) == 0 {
			continue
		}
		rk := rkey{&h.Results[0], len(h.Results)}
		g := byResults[rk]
		if g == nil || g.key.ring != h.Ring || g.key.stream != h.Stream || g.key.baseline != h.Baseline || g.key.digest != h.BaselineDigest {
			g = groups[gkey{rk.results, rk.n, h.Ring, h.Stream, h.Baseline, h.BaselineDigest}]
		}
		if g == nil {
			k := gkey{rk.results, rk.n, h.Ring, h.Stream, h.Baseline, h.BaselineDigest}
			g = &group{key: k, results: h.Results, targets: last.targets}
			byResults[rk] = g
			for _, res := range h.Results {
				if res.State.Compliant() {
					continue
				}
				fk := fstate{fkey{h.Baseline, h.Stream, res.Rule.Kind, res.Rule.Name}, res.State}
				f := findings[fk]
				if f == nil {
					f = &Finding{Baseline: h.Baseline, BaselineDigest: h.BaselineDigest, Stream: h.Stream, Rule: res.Rule,
						State: res.State, Deadline: res.Deadline, DeadlineBy: res.DeadlineBy, Overdue: res.Overdue, Risk: res.Risk, SampleHosts: []string{}}
					findings[fk] = f
				}
				g.findings = append(g.findings, f)
			}
			groups[k] = g
			order = append(order, g)
		}
		g.hosts++
		if !g.saturated {
			g.saturated = true
			for _, f := range g.findings {
				if len(f.SampleHosts) < sampleHosts {
					f.SampleHosts = append(f.SampleHosts, h.ID)
				}
				g.saturated = g.saturated && len(f.SampleHosts) >= sampleHosts
			}
		}
	}
	for t, c := range per {
		t.Hosts += c.hosts
		t.RebootNeeded += c.reboot
		for i, n := range c.byStatus {
			if n > 0 {
				t.ByStatus[HostStatuses[i]] += n
			}
		}
	}
	for _, g := range order {
		for _, f := range g.findings {
			f.Hosts += g.hosts
		}
		for _, res := range g.results {
			open := !res.State.Compliant()
			for _, t := range g.targets {
				t.ByState[res.State] += g.hosts
				if open && res.Overdue {
					t.Overdue += g.hosts
				}
			}
			// Top missing per roll-up, from the findings of its hosts.
			if res.State == Missing || res.State == BlockedVersion {
				for _, t := range g.targets {
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
