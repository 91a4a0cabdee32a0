package history

import (
	"time"

	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
)

// Scopes of roll-ups.
const (
	ScopeFleet  = "fleet"
	ScopeRing   = "ring"
	ScopeStream = "stream"
)

// Rollups computes the day's roll-ups from a fleet plan: one for the
// fleet, one per ring of the repository (also rings with no hosts, so a
// chart shows them) and one per stream with hosts. Compliant counts
// COMPLIANT hosts; the finding counts count open results by severity.
func Rollups(p *plan.Plan, ringNames []string, day time.Time) []store.Rollup {
	day = day.UTC().Truncate(24 * time.Hour)
	fleet := &store.Rollup{Scope: ScopeFleet, Name: ScopeFleet, Day: day}
	rings := map[string]*store.Rollup{}
	out := []*store.Rollup{fleet}
	for _, n := range ringNames {
		r := &store.Rollup{Scope: ScopeRing, Name: n, Day: day}
		rings[n] = r
		out = append(out, r)
	}
	streams := map[string]*store.Rollup{}
	for _, h := range p.Hosts.All() {
		targets := []*store.Rollup{fleet}
		if r := rings[h.Ring]; r != nil {
			targets = append(targets, r)
		}
		if h.Stream != "" {
			s := streams[h.Stream]
			if s == nil {
				s = &store.Rollup{Scope: ScopeStream, Name: h.Stream, Day: day}
				streams[h.Stream] = s
				out = append(out, s)
			}
			targets = append(targets, s)
		}
		reboot := h.RebootRequired || len(h.Actions) > 0 && h.Actions[len(h.Actions)-1].Kind == plan.Reboot
		for _, t := range targets {
			t.Hosts++
			if h.Status == plan.Compliant {
				t.Compliant++
			}
			if reboot {
				t.RebootPending++
			}
		}
		for _, res := range h.Results {
			for _, t := range targets {
				if res.State == plan.Excepted {
					t.Excepted++
				}
				if !Open(res.State) {
					continue
				}
				switch res.Rule.Severity {
				case "critical":
					t.Critical++
				case "high":
					t.High++
				case "medium":
					t.Medium++
				default:
					t.Low++
				}
				if res.Rule.KEV {
					t.KEV++
				}
				if res.Overdue {
					t.Overdue++
				}
			}
		}
	}
	rs := make([]store.Rollup, len(out))
	for i, r := range out {
		rs[i] = *r
	}
	return rs
}

// Percent returns r's compliant hosts over its hosts, 0–100, and false
// when it has no hosts (a ring without hosts is not "0 % compliant").
func Percent(r store.Rollup) (float64, bool) {
	if r.Hosts == 0 {
		return 0, false
	}
	return 100 * float64(r.Compliant) / float64(r.Hosts), true
}
