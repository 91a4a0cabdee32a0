package history

import (
	"context"
	"time"

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
		for _, e := range Episodes(group) {
			if keep(e) {
				eps = append(eps, e)
			}
		}
		for _, r := range Regressions(group, from, to) {
			regs = append(regs, store.HistoryChange{HostID: r.HostID, At: r.At, HostState: store.HostState{Rule: r.Rule, State: Code(r.To)}})
		}
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
