package history

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
)

// Report is the monthly compliance report: what a security officer hands
// to the board. Its JSON form is the report's documented schema.
type Report struct {
	Period      string    `json:"period"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	GeneratedAt time.Time `json:"generatedAt"`
	// JudgedAt is when open findings were judged: the period's end, or now
	// for the running period.
	JudgedAt     time.Time        `json:"judgedAt"`
	Verification Verification     `json:"verification"`
	Attainment   []AttainmentRow  `json:"slaAttainment"`
	Previous     []AttainmentRow  `json:"slaAttainmentPreviousPeriod"`
	Remediation  []RemediationRow `json:"timeToRemediate"`
	Exceptions   []ExceptionRow   `json:"exceptions"`
	TopRisks     []RiskRow        `json:"topRisks"`
	Regressions  []RegressionRow  `json:"regressions"`
	Rollouts     []RolloutRow     `json:"rollouts"`
	Evidence     []EvidenceRow    `json:"-"`
	Notes        []string         `json:"notes,omitempty"`
}

// Verification is the audit chain's verification result on the report.
type Verification struct {
	// Checked is false when no trusted key was given: nothing was verified.
	Checked  bool     `json:"checked"`
	Verified bool     `json:"verified"`
	Records  int      `json:"records"`
	Problems []string `json:"problems"`
}

// AttainmentRow is SLA attainment of one group; Percent is nil when
// nothing was due.
type AttainmentRow struct {
	Group   string   `json:"group"`
	Met     int      `json:"met"`
	Missed  int      `json:"missed"`
	Pending int      `json:"pending"`
	Percent *float64 `json:"percent"`
}

// RemediationRow is time to remediate of one group, in days.
type RemediationRow struct {
	Group      string  `json:"group"`
	Count      int     `json:"count"`
	MedianDays float64 `json:"medianDays"`
	P90Days    float64 `json:"p90Days"`
	MaxDays    float64 `json:"maxDays"`
}

// ExceptionRow is one exception with its age and the hosts it covers.
type ExceptionRow struct {
	ID      string `json:"id"`
	Rule    string `json:"rule"`
	Stream  string `json:"stream"`
	Owner   string `json:"owner"`
	Reason  string `json:"reason"`
	Granted string `json:"granted"`
	Expires string `json:"expires"`
	AgeDays int    `json:"ageDays"`
	Status  string `json:"status"`
}

// RiskRow is an open finding at the end of the period.
type RiskRow struct {
	Host        string    `json:"host"`
	Rule        string    `json:"rule"`
	Stream      string    `json:"stream"`
	Severity    string    `json:"severity"`
	KEV         bool      `json:"kev"`
	OpenSince   time.Time `json:"openSince"`
	Deadline    time.Time `json:"deadline,omitzero"`
	DaysOverdue int       `json:"daysOverdue"`
}

// RegressionRow is a host where a fixed rule became open again.
type RegressionRow struct {
	Host  string    `json:"host"`
	Rule  string    `json:"rule"`
	At    time.Time `json:"at"`
	State string    `json:"state"`
}

// RolloutRow is a rollout that started in the period, with the change and
// approvals that started it (from the audit trail).
type RolloutRow struct {
	ID         string    `json:"id"`
	Ring       string    `json:"ring"`
	Baseline   string    `json:"baseline"`
	Commit     string    `json:"commit"`
	PR         int       `json:"pr,omitempty"`
	Author     string    `json:"author,omitempty"`
	Approvers  []string  `json:"approvers"`
	Gate       string    `json:"gate,omitempty"`
	Outcome    string    `json:"outcome"`
	Hosts      int       `json:"hosts"`
	Failed     int       `json:"failed"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
}

// EvidenceRow says, for one host and rule, when it became compliant and
// under which rollout (and so which change and whose approval).
type EvidenceRow struct {
	Host        string    `json:"host"`
	Rule        string    `json:"rule"`
	Stream      string    `json:"stream"`
	Severity    string    `json:"severity"`
	OpenedAt    time.Time `json:"openedAt"`
	CompliantAt time.Time `json:"compliantAt"`
	State       string    `json:"state"`
	RolloutID   string    `json:"rolloutId,omitempty"`
	Ring        string    `json:"ring,omitempty"`
	Commit      string    `json:"commit,omitempty"`
	PR          int       `json:"pr,omitempty"`
	Approvers   []string  `json:"approvers,omitempty"`
}

// ReportInput is what BuildReport needs besides the store.
type ReportInput struct {
	Period   string
	Now      time.Time
	Repo     *baseline.Repository // nil: no exceptions section
	Rollouts []RolloutRow         // every rollout known to the audit trail
	Verify   Verification
	// TopRisks bounds the risk list; 0 means 20.
	TopRisks int
}

// BuildReport measures the period from the store's history and assembles
// the report.
func BuildReport(ctx context.Context, st *store.Store, in ReportInput) (*Report, error) {
	from, to, err := ParsePeriod(in.Period)
	if err != nil {
		return nil, err
	}
	judged := to
	if in.Now.Before(to) {
		judged = in.Now
	}
	sum, err := Summarize(ctx, st, from, to, judged)
	if err != nil {
		return nil, err
	}
	r := &Report{Period: in.Period, From: from, To: to, GeneratedAt: in.Now.UTC(), JudgedAt: judged.UTC(), Verification: in.Verify,
		Attainment: attRows(sum.Current), Previous: attRows(sum.Previous)}
	for _, m := range sum.Remediation {
		r.Remediation = append(r.Remediation, RemediationRow{Group: m.Group, Count: m.Count, MedianDays: dayf(m.Median), P90Days: dayf(m.P90), MaxDays: dayf(m.Max)})
	}
	if in.Repo != nil {
		for _, e := range Exceptions(in.Repo, nil, judged, 14*24*time.Hour) {
			rule := "package/" + e.Package
			if e.Source != "" {
				rule = "source/" + e.Source
			}
			status := "active"
			switch {
			case !e.Active:
				status = "expired"
			case e.Expiring:
				status = "expiring"
			}
			r.Exceptions = append(r.Exceptions, ExceptionRow{ID: e.ID, Rule: rule, Stream: e.Stream, Owner: e.Owner, Reason: e.Reason,
				Granted: string(e.Granted), Expires: string(e.Expires), AgeDays: e.AgeDays, Status: status})
		}
	}
	// Top risks: findings open at the period's end, KEV first, then
	// severity, then the most overdue.
	sevRank := map[string]int{"critical": 0, "high": 1, "medium": 2}
	var risks []RiskRow
	for _, e := range sum.Episodes {
		if !e.OpenedAt.Before(to) || !e.ClosedAt.IsZero() && e.ClosedAt.Before(judged) {
			continue
		}
		rr := RiskRow{Host: e.HostID, Rule: e.Rule.Kind + "/" + e.Rule.Name, Stream: e.Rule.Stream, Severity: e.Rule.Severity, KEV: e.Rule.KEV,
			OpenSince: e.Start(), Deadline: e.Deadline}
		if !e.Deadline.IsZero() && judged.After(e.Deadline) {
			rr.DaysOverdue = int(judged.Sub(e.Deadline).Hours() / 24)
		}
		risks = append(risks, rr)
	}
	slices.SortStableFunc(risks, func(a, b RiskRow) int {
		if a.KEV != b.KEV {
			if a.KEV {
				return -1
			}
			return 1
		}
		ra, ok := sevRank[a.Severity]
		if !ok {
			ra = 3
		}
		rb, ok := sevRank[b.Severity]
		if !ok {
			rb = 3
		}
		return cmp.Or(cmp.Compare(ra, rb), -cmp.Compare(a.DaysOverdue, b.DaysOverdue), cmp.Compare(a.Host, b.Host))
	})
	n := in.TopRisks
	if n <= 0 {
		n = 20
	}
	r.TopRisks = risks[:min(n, len(risks))]
	for _, g := range sum.Regressions {
		r.Regressions = append(r.Regressions, RegressionRow{Host: g.HostID, Rule: g.Rule.Kind + "/" + g.Rule.Name, At: g.At, State: string(g.To)})
	}
	for _, ro := range in.Rollouts {
		if !ro.StartedAt.Before(from) && ro.StartedAt.Before(to) {
			r.Rollouts = append(r.Rollouts, ro)
		}
	}
	if len(r.Attainment) > 0 && sum.Current != nil && totalDue(sum.Current) == 0 {
		r.Notes = append(r.Notes, "No finding was due in this period: attainment has no data.")
	}
	return r, nil
}

func totalDue(as []Attainment) int {
	n := 0
	for _, a := range as {
		n += a.Met + a.Missed
	}
	return n
}

func attRows(as []Attainment) []AttainmentRow {
	out := make([]AttainmentRow, 0, len(as))
	for _, a := range as {
		row := AttainmentRow{Group: a.Group, Met: a.Met, Missed: a.Missed, Pending: a.Pending}
		if p, ok := a.Percent(); ok {
			row.Percent = &p
		}
		out = append(out, row)
	}
	return out
}

func dayf(d time.Duration) float64 { return float64(int(d.Hours()/24*10+0.5)) / 10 }

// HostEvidence lists, for every host and rule, the finding episodes that
// ended compliant before to, newest first per host, with the rollout the
// host was in when it became compliant: the rollout recorded with the
// change, else the latest rollout that had started on the host by then.
func HostEvidence(ctx context.Context, st *store.Store, to time.Time) ([]EvidenceRow, error) {
	var out []EvidenceRow
	var group []store.HistoryChange
	var cur hostRule
	rollouts := map[string][]store.RolloutHost{}
	flush := func() error {
		var eps []Episode
		walkOrdered(group, func(e Episode) { eps = append(eps, e) }, func(plan.State, store.HistoryChange) {})
		for _, e := range eps {
			if !e.Remediated() {
				continue
			}
			row := EvidenceRow{Host: e.HostID, Rule: e.Rule.Kind + "/" + e.Rule.Name, Stream: e.Rule.Stream, Severity: e.Rule.Severity,
				OpenedAt: e.OpenedAt, CompliantAt: e.ClosedAt, State: string(e.Closed), RolloutID: e.RolloutID}
			if row.RolloutID == "" {
				hr, ok := rollouts[e.HostID]
				if !ok {
					var err error
					if hr, err = st.HostRollouts(ctx, e.HostID); err != nil {
						return err
					}
					rollouts[e.HostID] = hr
				}
				for _, x := range hr { // newest first
					if !x.StartedAt.IsZero() && !x.StartedAt.After(e.ClosedAt) {
						row.RolloutID = x.RolloutID
						break
					}
				}
			}
			out = append(out, row)
		}
		group = group[:0]
		return nil
	}
	err := st.ScanChanges(ctx, to, func(c store.HistoryChange) error {
		k := hostRule{c.HostID, c.Rule}
		if k != cur && len(group) > 0 {
			if err := flush(); err != nil {
				return err
			}
		}
		cur = k
		group = append(group, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}
