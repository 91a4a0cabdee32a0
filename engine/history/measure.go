package history

import (
	"cmp"
	"slices"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
)

// Episode is one finding on one host: from the change that opened it (the
// rule became MISSING, BLOCKED_VERSION or INSTALLED_PENDING_REBOOT) to the
// change that closed it, if any.
type Episode struct {
	HostID   string
	Rule     store.HistoryRule
	OpenedAt time.Time
	Deadline time.Time
	// ClosedAt is zero while the finding is open; Closed is the state that
	// closed it (Remediated or not: EXCEPTED, HELD, NOT_APPLICABLE, Gone).
	ClosedAt time.Time
	Closed   plan.State
	// RolloutID is the rollout recorded with the remediating change.
	RolloutID string
}

// Start is when the clock of time to remediate starts: the rule's Since
// (advisory published or baseline created) when known and not after the
// episode opened, else when the finding was first seen.
func (e Episode) Start() time.Time {
	if !e.Rule.Since.IsZero() && !e.Rule.Since.After(e.OpenedAt) {
		return e.Rule.Since
	}
	return e.OpenedAt
}

// Remediated reports whether the episode ended by fixing the rule.
func (e Episode) Remediated() bool { return !e.ClosedAt.IsZero() && Remediated(e.Closed) }

type hostRule struct {
	host string
	rule store.HistoryRule
}

// Episodes walks changes (of any order) per host and rule and returns the
// findings they describe, ordered by opening time. A change from one open
// state to another (MISSING → INSTALLED_PENDING_REBOOT) continues the
// episode.
func Episodes(changes []store.HistoryChange) []Episode {
	cs := slices.Clone(changes)
	slices.SortStableFunc(cs, func(a, b store.HistoryChange) int { return a.At.Compare(b.At) })
	open := map[hostRule]int{}
	var out []Episode
	for _, c := range cs {
		k := hostRule{c.HostID, c.Rule}
		st := StateOf(c.State)
		i, isOpen := open[k]
		switch {
		case Open(st) && !isOpen:
			open[k] = len(out)
			out = append(out, Episode{HostID: c.HostID, Rule: c.Rule, OpenedAt: c.At, Deadline: c.Deadline})
		case Open(st) && isOpen:
			if out[i].Deadline.IsZero() {
				out[i].Deadline = c.Deadline
			}
		case !Open(st) && isOpen:
			out[i].ClosedAt, out[i].Closed, out[i].RolloutID = c.At, st, c.RolloutID
			delete(open, k)
		}
	}
	return out
}

// Group names a measure's group: a severity, or "kev" for KEV findings of
// any severity (which therefore count twice: under their severity and
// under "kev").
type Group = string

// Groups lists the groups in report order.
var Groups = []Group{"kev", "critical", "high", "medium", "low"}

func groupsOf(r store.HistoryRule) []Group {
	sev := r.Severity
	if sev != "critical" && sev != "high" && sev != "medium" {
		sev = "low"
	}
	if r.KEV {
		return []Group{"kev", sev}
	}
	return []Group{sev}
}

// Remediation summarises the time to remediate of one group.
type Remediation struct {
	Group  Group
	Count  int
	Median time.Duration
	P90    time.Duration
	Max    time.Duration
}

// TimeToRemediate measures, per group, the time from Start to the
// remediating change of the episodes remediated in [from, to). Groups with
// no remediation are left out.
func TimeToRemediate(eps []Episode, from, to time.Time) []Remediation {
	ds := map[Group][]time.Duration{}
	for _, e := range eps {
		if !e.Remediated() || e.ClosedAt.Before(from) || !e.ClosedAt.Before(to) {
			continue
		}
		d := e.ClosedAt.Sub(e.Start())
		for _, g := range groupsOf(e.Rule) {
			ds[g] = append(ds[g], d)
		}
	}
	var out []Remediation
	for _, g := range Groups {
		d := ds[g]
		if len(d) == 0 {
			continue
		}
		slices.Sort(d)
		out = append(out, Remediation{Group: g, Count: len(d), Median: quantile(d, 0.5), P90: quantile(d, 0.9), Max: d[len(d)-1]})
	}
	return out
}

// quantile is the nearest-rank quantile of sorted durations.
func quantile(d []time.Duration, q float64) time.Duration {
	i := int(float64(len(d))*q+0.999999) - 1
	return d[max(0, min(i, len(d)-1))]
}

// Attainment is the SLA attainment of one group in one cycle.
type Attainment struct {
	Group Group
	// Met counts findings due in the cycle that were remediated on or
	// before their deadline; Missed those that were not (still open at the
	// deadline, or remediated late). Pending counts findings due in the
	// cycle whose deadline is still ahead of now.
	Met, Missed, Pending int
}

// Percent returns Met over Met+Missed, 0–100, and false when nothing was
// due yet.
func (a Attainment) Percent() (float64, bool) {
	n := a.Met + a.Missed
	if n == 0 {
		return 0, false
	}
	return 100 * float64(a.Met) / float64(n), true
}

// SLAAttainment measures, per group, the findings whose deadline falls in
// the cycle [from, to), judged at now: met when remediated by the
// deadline; missed when remediated after it or still open past it.
// Findings closed by an exception, a hold or the rule going away before
// their deadline are not counted; closed that way after the deadline they
// count as missed (the deadline passed while open).
func SLAAttainment(eps []Episode, from, to, now time.Time) []Attainment {
	m := map[Group]*Attainment{}
	for _, g := range Groups {
		m[g] = &Attainment{Group: g}
	}
	for _, e := range eps {
		if e.Deadline.IsZero() || e.Deadline.Before(from) || !e.Deadline.Before(to) {
			continue
		}
		for _, g := range groupsOf(e.Rule) {
			a := m[g]
			switch {
			case !e.ClosedAt.IsZero() && !e.ClosedAt.After(e.Deadline):
				if e.Remediated() {
					a.Met++
				}
			case e.ClosedAt.IsZero() && !now.After(e.Deadline):
				a.Pending++
			default:
				a.Missed++
			}
		}
	}
	out := make([]Attainment, 0, len(Groups))
	for _, g := range Groups {
		out = append(out, *m[g])
	}
	return out
}

// Regression is a host on which a rule that was compliant became open
// again in the period (a downgrade, a package removed, a recalled version
// installed).
type Regression struct {
	HostID string
	Rule   store.HistoryRule
	At     time.Time
	From   plan.State
	To     plan.State
}

// Regressions finds the compliant → open changes of the same rule on the
// same host that happened in [from, to). changes must include each host's
// earlier history for the rule (the compliant state before the period).
func Regressions(changes []store.HistoryChange, from, to time.Time) []Regression {
	cs := slices.Clone(changes)
	slices.SortStableFunc(cs, func(a, b store.HistoryChange) int { return a.At.Compare(b.At) })
	last := map[hostRule]plan.State{}
	var out []Regression
	for _, c := range cs {
		k := hostRule{c.HostID, c.Rule}
		st := StateOf(c.State)
		prev, ok := last[k]
		last[k] = st
		if ok && Remediated(prev) && Open(st) && !c.At.Before(from) && c.At.Before(to) {
			out = append(out, Regression{HostID: c.HostID, Rule: c.Rule, At: c.At, From: prev, To: st})
		}
	}
	return out
}

// ExceptionStatus is an exception with the hosts it covers now and its age.
type ExceptionStatus struct {
	*baseline.Exception
	// Covered counts the EXCEPTED results the exception covers in the plan.
	Covered int
	// AgeDays is days since it was granted; ExpiresInDays days until it
	// ends (negative once expired).
	AgeDays, ExpiresInDays int
	// Expiring is true when it ends within soon.
	Expiring bool
	Active   bool
}

// Exceptions lists the repository's exceptions with the hosts each covers
// in p (nil: none), their age and expiry, ordered by expiry.
func Exceptions(repo *baseline.Repository, p *plan.Plan, now time.Time, soon time.Duration) []ExceptionStatus {
	covered := map[string]int{}
	if p != nil {
		for _, h := range p.Hosts.All() {
			for _, r := range h.Results {
				if r.State == plan.Excepted && r.Exception != "" {
					covered[r.Exception]++
				}
			}
		}
	}
	var out []ExceptionStatus
	for _, e := range repo.Exceptions {
		end := e.Expires.Time().AddDate(0, 0, 1)
		es := ExceptionStatus{Exception: e, Covered: covered[e.ID], Active: e.Active(now),
			AgeDays:       int(now.Sub(e.Granted.Time()).Hours() / 24),
			ExpiresInDays: int(end.Sub(now).Hours() / 24)}
		es.Expiring = es.Active && end.Sub(now) <= soon
		out = append(out, es)
	}
	slices.SortStableFunc(out, func(a, b ExceptionStatus) int { return cmp.Compare(a.Expires, b.Expires) })
	return out
}
