package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/plural"
)

// CommentLimit is GitHub's limit on a comment body.
const CommentLimit = 65536

// PlanMarkdown writes the plan as a pull-request comment: a summary table,
// the top findings, and one collapsible section per ring. It stays under
// limit bytes by cutting rows and saying how many were left out.
func PlanMarkdown(w io.Writer, p *plan.Plan, limit int) error {
	if limit <= 0 {
		limit = CommentLimit
	}
	var b mdBuilder
	b.limit = limit - 512 // room for the closing note
	b.line("### patchbay plan")
	b.line("")
	b.line(fmt.Sprintf("Fleet: **%s**, **%.1f%%** compliant, %d non-compliant, %d stale, %s, %s %s a reboot.",
		plural.Count(p.Fleet.Hosts, "host"), p.Fleet.CompliancePercent, p.Fleet.ByStatus[plan.NonCompliant], p.Fleet.ByStatus[plan.Stale],
		plural.Count(p.Fleet.Overdue, "overdue finding"), plural.Count(p.Fleet.RebootNeeded, "host"), plural.Verb(p.Fleet.RebootNeeded, "needs", "need")))
	if n := p.Fleet.ByStatus[plan.Unassigned] + p.Fleet.ByStatus[plan.Ambiguous] + p.Fleet.ByStatus[plan.UnknownStream] + p.Fleet.ByStatus[plan.Uncovered]; n > 0 {
		b.line("")
		b.line(fmt.Sprintf("> [!WARNING]\n> %s %s outside the plan: %s", plural.Count(n, "host"), plural.Verb(n, "is", "are"), escape(outside(p))))
	}
	b.line("")
	b.line("| Ring | Baseline | Hosts | Compliant | Non-compliant | Stale | Overdue | Reboot | Compliance |")
	b.line("|---|---|--:|--:|--:|--:|--:|--:|--:|")
	baselineOf := map[string]string{}
	for _, bl := range p.Baselines {
		baselineOf[bl.Ring] = "`" + bl.ID + "`"
	}
	for _, r := range append(append([]plan.RollUp{}, p.Rings...), p.Fleet) {
		name := r.Name
		if name == "fleet" {
			name = "**fleet**"
		}
		b.line(fmt.Sprintf("| %s | %s | %d | %d | %d | %d | %d | %d | %.1f%% |", name, baselineOf[r.Name], r.Hosts, r.ByStatus[plan.Compliant],
			r.ByStatus[plan.NonCompliant], r.ByStatus[plan.Stale], r.Overdue, r.RebootNeeded, r.CompliancePercent))
	}
	b.line("")
	b.line(fmt.Sprintf("#### Findings (%d)", len(p.Findings)))
	b.line("")
	b.line("| Risk | Severity | KEV | Stream | Rule | State | Hosts | Deadline | Advisories |")
	b.line("|--:|---|---|---|---|---|--:|---|---|")
	shown := 0
	for _, f := range p.Findings {
		deadline := f.Deadline.Format("2006-01-02")
		if f.Overdue {
			deadline = "**" + deadline + " overdue**"
		}
		if !b.line(fmt.Sprintf("| %d | %s | %s | %s | `%s` | %s | %d | %s | %s |", f.Risk, f.Rule.Severity, yes(f.Rule.KEV), f.Stream,
			f.Rule.Ref(), f.State, f.Hosts, deadline, escape(strings.Join(f.Rule.Advisories, ", ")))) {
			break
		}
		shown++
	}
	if shown < len(p.Findings) {
		b.force(fmt.Sprintf("\n_%s left out to stay under GitHub's comment limit; run `patchbay plan --format json` for all._", plural.Count(len(p.Findings)-shown, "more finding")))
	}
	for _, r := range p.Rings {
		if b.full {
			break
		}
		b.line("")
		b.line(fmt.Sprintf("<details><summary>Ring <b>%s</b> (%s): %s, %.1f%% compliant</summary>", r.Name, strings.Trim(baselineOf[r.Name], "`"), plural.Count(r.Hosts, "host"), r.CompliancePercent))
		b.line("")
		b.line("| Host | Stream | Status | Risk | Actions | Evidence |")
		b.line("|---|---|---|--:|---|---|")
		left := 0
		for _, h := range p.Hosts.All() {
			if h.Ring != r.Name {
				continue
			}
			if left > 0 || !b.line(fmt.Sprintf("| `%s` | %s | %s | %d | %s | %s |", h.ID, h.Stream, h.Status, h.Risk, escape(actionSummary(h.Actions)), evidence(h))) {
				left++
			}
		}
		if left > 0 {
			b.force(fmt.Sprintf("\n_%s left out._", plural.Count(left, "more host")))
		}
		b.force("\n</details>")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// evidence is the first open result's evidence of a host.
func evidence(h plan.Host) string {
	var open []string
	for _, r := range h.Results {
		if !r.State.Compliant() {
			open = append(open, r.Rule.Ref()+": "+r.Evidence)
		}
	}
	if len(open) == 0 {
		return "-"
	}
	for i := range open {
		open[i] = escape(open[i])
	}
	if len(open) > 2 {
		return strings.Join(open[:2], "<br>") + fmt.Sprintf("<br>+%d more", len(open)-2)
	}
	return strings.Join(open, "<br>")
}

// escape keeps text from reports, advisories and policies as text in a
// table cell: one cell (pipes, newlines), and no raw HTML (GitHub renders
// a subset of it; an advisory or a package name must not add markup).
func escape(s string) string {
	return mdEscaper.Replace(s)
}

var mdEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "|", `\|`, "\n", " ", "\r", " ")

// mdBuilder accumulates lines up to a byte limit.
type mdBuilder struct {
	strings.Builder
	limit int
	full  bool
}

// line appends a line unless that would pass the limit; it reports whether
// it did.
func (b *mdBuilder) line(s string) bool {
	if b.full || b.Len()+len(s)+1 > b.limit {
		b.full = true
		return false
	}
	b.WriteString(s)
	b.WriteByte('\n')
	return true
}

// force appends a short closing line regardless of the limit (the limit
// keeps room for these).
func (b *mdBuilder) force(s string) {
	b.WriteString(s)
	b.WriteByte('\n')
}
