package history

import (
	"context"
	"time"

	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
)

// Summary is what the overview, /metrics and the monthly report need from
// the whole history: SLA attainment of a cycle and the one before, time to
// remediate and regressions in the cycle.
type Summary struct {
	// Cycle is [From, To); Previous the cycle before it.
	From, To    time.Time
	Current     []Attainment
	Previous    []Attainment
	Remediation []Remediation
	Regressions []Regression
	// Episodes are the cycle's findings: due in the cycle, remediated in
	// it, or still open at its end (for evidence and top risks).
	Episodes []Episode
	// ComputedAt is when the summary was made; Took how long it took.
	ComputedAt time.Time
	Took       time.Duration
}

// walkOrdered is Episodes and Regressions for the changes of one host and
// rule in time order (the store's scan order): no copy, sort or map.
func walkOrdered(cs []store.HistoryChange, episode func(Episode), regression func(prev plan.State, c store.HistoryChange)) {
	var cur *Episode
	var ep Episode
	prev := Gone
	for i, c := range cs {
		st := StateOf(c.State)
		if i > 0 && Remediated(prev) && Open(st) {
			regression(prev, c)
		}
		prev = st
		switch {
		case Open(st) && cur == nil:
			ep = Episode{HostID: c.HostID, Rule: c.Rule, OpenedAt: c.At, Deadline: c.Deadline}
			cur = &ep
		case Open(st):
			if cur.Deadline.IsZero() {
				cur.Deadline = c.Deadline
			}
		case cur != nil:
			cur.ClosedAt, cur.Closed, cur.RolloutID = c.At, st, c.RolloutID
			episode(*cur)
			cur = nil
		}
	}
	if cur != nil {
		episode(*cur)
	}
}

// Summarize reads the history once, in the store's order (host, rule,
// time), keeping one host and rule in memory at a time, and measures the
// cycle [from, to) judged at now.
func Summarize(ctx context.Context, st *store.Store, from, to, now time.Time) (*Summary, error) {
	start := time.Now()
	prevFrom, _ := Cycle(from.Add(-time.Hour))
	var (
		eps   []Episode
		regs  []store.HistoryChange
		cur   hostRule
		group []store.HistoryChange
	)
	keep := func(e Episode) bool {
		due := !e.Deadline.IsZero() && !e.Deadline.Before(prevFrom) && e.Deadline.Before(to)
		fixed := e.Remediated() && !e.ClosedAt.Before(from) && e.ClosedAt.Before(to)
		openAtEnd := e.OpenedAt.Before(to) && (e.ClosedAt.IsZero() || !e.ClosedAt.Before(to))
		return due || fixed || openAtEnd
	}
	flush := func() {
		walkOrdered(group, func(e Episode) {
			if keep(e) {
				eps = append(eps, e)
			}
		}, func(prev plan.State, c store.HistoryChange) {
			if !c.At.Before(from) && c.At.Before(to) {
				regs = append(regs, c)
			}
		})
		group = group[:0]
	}
	err := st.ScanChanges(ctx, to, func(c store.HistoryChange) error {
		k := hostRule{c.HostID, c.Rule}
		if k != cur && len(group) > 0 {
			flush()
		}
		cur = k
		group = append(group, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	flush()
	s := &Summary{From: from, To: to, ComputedAt: now,
		Current:     SLAAttainment(eps, from, to, now),
		Previous:    SLAAttainment(eps, prevFrom, from, now),
		Remediation: TimeToRemediate(eps, from, to),
		Episodes:    eps,
	}
	for _, r := range regs {
		s.Regressions = append(s.Regressions, Regression{HostID: r.HostID, Rule: r.Rule, At: r.At, To: StateOf(r.State)})
	}
	s.Took = time.Since(start)
	return s, nil
}

// SummarizeCounters is Summarize's SLA attainment (Current and Previous)
// read from the counters the store keeps while recording (a few rows per
// rule and deadline) instead of the whole history: what the overview and
// /metrics show, recomputed at every roll-up. It gives exactly what
// Summarize gives for a cycle that has not ended (no change recorded after
// to); Remediation, Regressions and Episodes need the history itself and
// are left empty (the monthly report reads them with Summarize).
func SummarizeCounters(ctx context.Context, st *store.Store, from, to, now time.Time) (*Summary, error) {
	start := time.Now()
	prevFrom, _ := Cycle(from.Add(-time.Hour))
	cs, err := st.SLACounters(ctx, prevFrom, to)
	if err != nil {
		return nil, err
	}
	return &Summary{From: from, To: to, ComputedAt: now,
		Current:  attainmentOf(cs, from, to, now),
		Previous: attainmentOf(cs, prevFrom, from, now),
		Took:     time.Since(start)}, nil
}

// attainmentOf is SLAAttainment over counters: closed findings are met or
// missed for good; open ones are pending until their deadline passes, then
// missed.
func attainmentOf(cs []store.SLACount, from, to, now time.Time) []Attainment {
	m := map[Group]*Attainment{}
	for _, g := range Groups {
		m[g] = &Attainment{Group: g}
	}
	for _, c := range cs {
		if c.Deadline.Before(from) || !c.Deadline.Before(to) {
			continue
		}
		for _, g := range groupsOf(c.Rule) {
			a := m[g]
			a.Met += c.Met
			a.Missed += c.Missed
			if now.After(c.Deadline) {
				a.Missed += c.Open
			} else {
				a.Pending += c.Open
			}
		}
	}
	out := make([]Attainment, 0, len(Groups))
	for _, g := range Groups {
		out = append(out, *m[g])
	}
	return out
}
