package render

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"

	"github.com/patchbay/patchbay/engine/history"
)

// ReportCSV writes the report as one CSV: a section column, then the
// section's fields (see the header row of each section).
func ReportCSV(w io.Writer, r *history.Report) error {
	cw := csv.NewWriter(w)
	put := func(rec ...string) { _ = cw.Write(rec) }
	itoa := strconv.Itoa
	f1 := func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
	put("section", "period", r.Period, "verification", VerificationLine(r.Verification))
	put("section", "group", "attainment", "met", "missed", "pending", "previous")
	for i, a := range r.Attainment {
		prev := "—"
		if i < len(r.Previous) {
			prev = reportPct(r.Previous[i].Percent)
		}
		put("sla", a.Group, reportPct(a.Percent), itoa(a.Met), itoa(a.Missed), itoa(a.Pending), prev)
	}
	put("section", "group", "remediated", "median days", "p90 days", "max days")
	for _, m := range r.Remediation {
		put("time-to-remediate", m.Group, itoa(m.Count), f1(m.MedianDays), f1(m.P90Days), f1(m.MaxDays))
	}
	put("section", "host", "rule", "stream", "severity", "kev", "open since", "deadline", "days overdue")
	for _, x := range r.TopRisks {
		put("top-risk", x.Host, x.Rule, x.Stream, x.Severity, strconv.FormatBool(x.KEV), reportDate(x.OpenSince), reportDate(x.Deadline), itoa(x.DaysOverdue))
	}
	put("section", "exception", "rule", "owner", "granted", "expires", "age days", "status")
	for _, e := range r.Exceptions {
		put("exception", e.ID, e.Rule, e.Owner, e.Granted, e.Expires, itoa(e.AgeDays), e.Status)
	}
	put("section", "host", "rule", "at", "state")
	for _, g := range r.Regressions {
		put("regression", g.Host, g.Rule, reportDate(g.At), g.State)
	}
	put("section", "rollout", "ring", "baseline", "commit", "pr", "approvers", "gate", "outcome", "hosts", "failed", "started")
	for _, ro := range r.Rollouts {
		put("rollout", ro.ID, ro.Ring, ro.Baseline, ro.Commit, itoa(ro.PR), strings.Join(ro.Approvers, " "), ro.Gate, ro.Outcome, itoa(ro.Hosts), itoa(ro.Failed), reportDate(ro.StartedAt))
	}
	cw.Flush()
	return cw.Error()
}
