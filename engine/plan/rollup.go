package plan

import (
	"cmp"
	"slices"

	"github.com/patchbay/patchbay/engine/baseline"
)

// rollUp computes the ring, stream and fleet roll-ups and the findings.
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
	for i := range p.Hosts {
		h := &p.Hosts[i]
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
		reboot := len(h.Actions) > 0 && h.Actions[len(h.Actions)-1].Kind == Reboot
		for _, t := range targets {
			t.Hosts++
			t.ByStatus[h.Status]++
			if reboot {
				t.RebootNeeded++
			}
		}
		for _, res := range h.Results {
			open := !res.State.Compliant()
			for _, t := range targets {
				t.ByState[res.State]++
				if open && res.Overdue {
					t.Overdue++
				}
			}
			if !open {
				continue
			}
			k := fstate{fkey{h.Baseline, h.Stream, res.Rule.Kind, res.Rule.Name}, res.State}
			f := findings[k]
			if f == nil {
				f = &Finding{Baseline: h.Baseline, BaselineDigest: h.BaselineDigest, Stream: h.Stream, Rule: res.Rule,
					State: res.State, Deadline: res.Deadline, DeadlineBy: res.DeadlineBy, Overdue: res.Overdue, Risk: res.Risk, SampleHosts: []string{}}
				findings[k] = f
			}
			f.Hosts++
			if len(f.SampleHosts) < sampleHosts {
				f.SampleHosts = append(f.SampleHosts, h.ID)
			}
		}
	}
	// Top missing per roll-up, from the findings of its hosts.
	for i := range p.Hosts {
		h := &p.Hosts[i]
		for _, res := range h.Results {
			if res.State != Missing && res.State != BlockedVersion {
				continue
			}
			for _, t := range []*RollUp{fleet, rings[h.Ring], streams[h.Stream]} {
				if t != nil {
					t.missing(res.Rule.Ref())
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

func (r *RollUp) missing(rule string) {
	for i := range r.TopMissing {
		if r.TopMissing[i].Rule == rule {
			r.TopMissing[i].Hosts++
			return
		}
	}
	r.TopMissing = append(r.TopMissing, PackageCount{Rule: rule, Hosts: 1})
}
