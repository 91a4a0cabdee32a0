package render

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/history"
)

// reportPct formats an attainment percentage, "—" when nothing was due.
func reportPct(p *float64) string {
	if p == nil {
		return "—"
	}
	return strconv.FormatFloat(*p, 'f', 1, 64) + " %"
}

func reportDate(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02")
}

// VerificationLine says what the audit chain's verification found.
func VerificationLine(v history.Verification) string {
	switch {
	case !v.Checked:
		return "NOT VERIFIED: no trusted key was given (pass --key or configure trustedKeys)"
	case v.Verified:
		return fmt.Sprintf("verified: %d records, every signature and the hash chain check out", v.Records)
	default:
		return fmt.Sprintf("FAILED: %d problems in %d records; first: %s", len(v.Problems), v.Records, v.Problems[0])
	}
}

// ReportMarkdown writes the monthly compliance report as Markdown.
func ReportMarkdown(w io.Writer, r *history.Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Patch compliance report %s\n\n", r.Period)
	fmt.Fprintf(&b, "Period %s to %s (UTC), judged at %s. Generated %s.\n\n", reportDate(r.From), reportDate(r.To.Add(-time.Second)),
		r.JudgedAt.Format("2006-01-02 15:04"), r.GeneratedAt.Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, "**Audit trail:** %s\n\n", VerificationLine(r.Verification))
	b.WriteString("## SLA attainment\n\n| Group | Attainment | Met | Missed | Pending | Previous period |\n|---|--:|--:|--:|--:|--:|\n")
	for i, a := range r.Attainment {
		prev := "—"
		if i < len(r.Previous) {
			prev = reportPct(r.Previous[i].Percent)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %s |\n", a.Group, reportPct(a.Percent), a.Met, a.Missed, a.Pending, prev)
	}
	b.WriteString("\nFindings due in the period; met when remediated by the deadline.\n\n## Time to remediate\n\n")
	if len(r.Remediation) == 0 {
		b.WriteString("No finding was remediated in the period.\n\n")
	} else {
		b.WriteString("| Group | Remediated | Median | 90th percentile | Longest |\n|---|--:|--:|--:|--:|\n")
		for _, m := range r.Remediation {
			fmt.Fprintf(&b, "| %s | %d | %.1f d | %.1f d | %.1f d |\n", m.Group, m.Count, m.MedianDays, m.P90Days, m.MaxDays)
		}
		b.WriteString("\n")
	}
	b.WriteString("## Top risks at the end of the period\n\n")
	if len(r.TopRisks) == 0 {
		b.WriteString("No open finding.\n\n")
	} else {
		b.WriteString("| Host | Rule | Stream | Severity | Open since | Deadline | Days overdue |\n|---|---|---|---|---|---|--:|\n")
		for _, x := range r.TopRisks {
			sev := x.Severity
			if x.KEV {
				sev += " (KEV)"
			}
			fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s | %s | %d |\n", x.Host, x.Rule, x.Stream, sev, reportDate(x.OpenSince), reportDate(x.Deadline), x.DaysOverdue)
		}
		b.WriteString("\n")
	}
	b.WriteString("## Exceptions\n\n")
	if len(r.Exceptions) == 0 {
		b.WriteString("None.\n\n")
	} else {
		b.WriteString("| Exception | Rule | Owner | Granted | Expires | Age | Status |\n|---|---|---|---|---|--:|---|\n")
		for _, e := range r.Exceptions {
			fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s | %d d | %s |\n", e.ID, e.Rule, e.Owner, e.Granted, e.Expires, e.AgeDays, e.Status)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "## Regressions (%d)\n\n", len(r.Regressions))
	for _, g := range r.Regressions {
		fmt.Fprintf(&b, "- %s: `%s` became %s on %s\n", g.Host, g.Rule, g.State, reportDate(g.At))
	}
	if len(r.Regressions) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("## Rollouts and their approvals\n\n")
	if len(r.Rollouts) == 0 {
		b.WriteString("No rollout started in the period.\n")
	} else {
		b.WriteString("| Rollout | Ring | Baseline | Change | Approved by | Gate | Outcome | Hosts | Failed |\n|---|---|---|---|---|---|---|--:|--:|\n")
		for _, ro := range r.Rollouts {
			change := ro.Commit[:min(12, len(ro.Commit))]
			if ro.PR != 0 {
				change = fmt.Sprintf("#%d %s", ro.PR, change)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %d | %d |\n", ro.ID, ro.Ring, ro.Baseline, change, strings.Join(ro.Approvers, ", "),
				ro.Gate, ro.Outcome, ro.Hosts, ro.Failed)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n> %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
