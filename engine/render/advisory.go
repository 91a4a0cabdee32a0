package render

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/patchbay/patchbay/engine/advisory"
	"github.com/patchbay/patchbay/engine/plan"
)

// ringCounts writes "prod 3, canary 1" in a stable order.
func ringCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		name := k
		if name == "" {
			name = "no ring"
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, m[k]))
	}
	return strings.Join(parts, ", ")
}

func verdictCounts(m map[advisory.Verdict]int) string {
	var parts []string
	for _, v := range []advisory.Verdict{advisory.VerdictAffected, advisory.VerdictNoFix, advisory.VerdictWillNotFix} {
		if m[v] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", v, m[v]))
		}
	}
	return strings.Join(parts, ", ")
}

func fixList(fs []advisory.Fix) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, fmt.Sprintf("%s %s ≥ %s", f.HostStream, f.Package, f.Fixed))
	}
	if len(parts) == 0 {
		return "no fix available yet"
	}
	return strings.Join(parts, "; ")
}

// AdvisoriesText writes the ranked exposures as a terminal table: rank,
// score, KEV, advisory, hosts per verdict and ring, the fixes, and the
// score's inputs. max bounds the rows (0 = all).
func AdvisoriesText(w io.Writer, exps []advisory.Exposure, max int) error {
	if len(exps) == 0 {
		_, err := fmt.Fprintln(w, "No advisory applies to the hosts in scope.")
		return err
	}
	for i, e := range exps {
		if max > 0 && i == max {
			fmt.Fprintf(w, "… %d more (use --max 0 or --format json)\n", len(exps)-max)
			break
		}
		kev := ""
		if e.Risk.KEV {
			kev = " KEV due " + e.Risk.KEVDue.Format("2006-01-02")
		}
		fmt.Fprintf(w, "%3d. %6.2f  %s%s  [%s]\n", i+1, e.Risk.Score, e.ID, kev, e.Risk.Severity)
		if len(e.CVEs) > 0 && !(len(e.CVEs) == 1 && e.CVEs[0] == e.ID) {
			fmt.Fprintf(w, "       CVEs: %s\n", strings.Join(e.CVEs, " "))
		}
		fmt.Fprintf(w, "       hosts: %s (%s)\n", verdictCounts(e.ByVerdict), ringCounts(e.ByRing))
		fmt.Fprintf(w, "       fix: %s\n", fixList(e.Fixes))
		var ins []string
		for _, in := range e.Risk.Inputs {
			ins = append(ins, fmt.Sprintf("%s %+.2f (%s)", in.Name, in.Points, in.Value))
		}
		fmt.Fprintf(w, "       score: %s\n", strings.Join(ins, "; "))
		fmt.Fprintf(w, "       host ids: %s\n", strings.Join(e.Hosts, " "))
	}
	return nil
}

// AdvisoriesMarkdown writes the ranked exposures as a Markdown table for a
// pull-request body or comment, cut to stay under limit bytes.
func AdvisoriesMarkdown(w io.Writer, exps []advisory.Exposure, limit int) error {
	var b strings.Builder
	b.WriteString("| # | score | advisory | KEV | severity | hosts | rings | fix | score inputs |\n|---:|---:|---|---|---|---|---|---|---|\n")
	for i, e := range exps {
		kev := ""
		if e.Risk.KEV {
			kev = "due " + e.Risk.KEVDue.Format("2006-01-02")
		}
		var ins []string
		for _, in := range e.Risk.Inputs {
			if in.Points != 0 {
				ins = append(ins, fmt.Sprintf("%s %+.1f", in.Name, in.Points))
			}
		}
		row := fmt.Sprintf("| %d | %.2f | %s | %s | %s | %s | %s | %s | %s |\n", i+1, e.Risk.Score, mdEscape(e.ID), kev, e.Risk.Severity,
			verdictCounts(e.ByVerdict), ringCounts(e.ByRing), mdEscape(fixList(e.Fixes)), strings.Join(ins, ", "))
		if limit > 0 && b.Len()+len(row) > limit-200 {
			fmt.Fprintf(&b, "\n… %d more advisories not shown (see `patchbay advisories match --format json`).\n", len(exps)-i)
			break
		}
		b.WriteString(row)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// ProposalMarkdown writes the pull request body of a proposed baseline:
// the rules, what is left out, the plan delta if the first ring pinned it
// (delta may be nil) and the ranked advisories, within CommentLimit
// (GitHub's limit on a pull request body).
func ProposalMarkdown(w io.Writer, p *advisory.Proposal, ranked []advisory.Exposure, delta *plan.Effect) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "## Proposed baseline `%s` (%s of `%s`)\n\n", p.ID, p.Mode, p.Base)
	fmt.Fprintf(&b, "Written by `patchbay propose` from the advisories that apply to the fleet. %d rules, %d left out.\n\n", len(p.Covered), len(p.LeftOut))
	b.WriteString("### Rules\n\n| stream | package | min | severity | KEV | hosts | advisories |\n|---|---|---|---|---|---|---|\n")
	for _, c := range p.Covered {
		fmt.Fprintf(&b, "| %s | %s %s | `%s` | %s | %v | %d | %s |\n", c.Stream, c.Kind, c.Package, c.Min, c.Severity, c.KEV, c.Hosts, strings.Join(c.Advisories, ", "))
	}
	if len(p.LeftOut) > 0 {
		b.WriteString("\n<details><summary>Left out</summary>\n\n")
		for _, l := range p.LeftOut {
			fmt.Fprintf(&b, "- %s %s %s: %s\n", l.Advisory, l.Stream, l.Package, l.Reason)
		}
		b.WriteString("\n</details>\n")
	}
	if delta != nil {
		b.WriteString("\n### Plan delta if the first ring pinned it\n\n")
		if err := EffectMarkdown(&b, delta); err != nil {
			return err
		}
	}
	b.WriteString("\n### Ranked advisories\n\n")
	if err := AdvisoriesMarkdown(&b, ranked, CommentLimit-b.Len()); err != nil {
		return err
	}
	out := b.Bytes()
	if len(out) > CommentLimit {
		// The rules or the left-out list alone overflow: cut at a rune
		// boundary and say so.
		const note = "\n\n_(cut: the full proposal is in the committed baseline file)_\n"
		cut := CommentLimit - len(note)
		for cut > 0 && out[cut]&0xC0 == 0x80 {
			cut--
		}
		out = append(out[:cut:cut], note...)
	}
	_, err := w.Write(out)
	return err
}
