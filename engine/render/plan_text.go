package render

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/plural"
)

// PlanText writes a terminal summary of a plan: the ring roll-ups, then the
// top findings, then the hosts that need attention.
func PlanText(w io.Writer, p *plan.Plan, maxFindings int) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "RING\tBASELINE\tHOSTS\tCOMPLIANT\tNON-COMPLIANT\tSTALE\tOVERDUE\tREBOOT\tCOMPLIANCE\n")
	baselineOf := map[string]string{}
	for _, b := range p.Baselines {
		baselineOf[b.Ring] = b.ID
	}
	row := func(r plan.RollUp, base string) {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f%%\n", r.Name, base, r.Hosts, r.ByStatus[plan.Compliant],
			r.ByStatus[plan.NonCompliant], r.ByStatus[plan.Stale], r.Overdue, r.RebootNeeded, r.CompliancePercent)
	}
	for _, r := range p.Rings {
		row(r, baselineOf[r.Name])
	}
	row(p.Fleet, "")
	if err := tw.Flush(); err != nil {
		return err
	}
	if n := p.Fleet.ByStatus[plan.Unassigned] + p.Fleet.ByStatus[plan.Ambiguous] + p.Fleet.ByStatus[plan.UnknownStream] + p.Fleet.ByStatus[plan.Uncovered]; n > 0 {
		fmt.Fprintf(w, "\n%s outside the plan: %s\n", plural.Count(n, "host"), outside(p))
	}

	fmt.Fprintf(w, "\nFINDINGS (%d)\n", len(p.Findings))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "RISK\tSEVERITY\tKEV\tSTREAM\tRULE\tSTATE\tHOSTS\tDEADLINE\tADVISORIES\n")
	for i, f := range p.Findings {
		if maxFindings > 0 && i == maxFindings {
			fmt.Fprintf(tw, "…\t%d more\n", len(p.Findings)-maxFindings)
			break
		}
		deadline := f.Deadline.Format("2006-01-02")
		if f.Overdue {
			deadline += " OVERDUE"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", f.Risk, f.Rule.Severity, yes(f.Rule.KEV), f.Stream, f.Rule.Ref(),
			f.State, f.Hosts, deadline, strings.Join(f.Rule.Advisories, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nHOSTS NEEDING ACTION\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "HOST\tRING\tSTREAM\tSTATUS\tRISK\tACTIONS\n")
	n := 0
	for _, h := range p.Hosts.All() {
		if h.Status == plan.Compliant {
			continue
		}
		n++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", h.ID, dash(h.Ring), h.Stream, h.Status, h.Risk, actionSummary(h.Actions))
	}
	if n == 0 {
		fmt.Fprintf(tw, "(none)\n")
	}
	return tw.Flush()
}

func outside(p *plan.Plan) string {
	var parts []string
	for _, h := range p.Hosts.All() {
		switch h.Status {
		case plan.Unassigned, plan.UnknownStream, plan.Uncovered:
			parts = append(parts, h.ID+" "+string(h.Status))
		case plan.Ambiguous:
			parts = append(parts, h.ID+" AMBIGUOUS ("+strings.Join(h.Candidates, ", ")+")")
		}
	}
	return strings.Join(parts, "; ")
}

// actionSummary is "upgrade libssl3, openssl; reboot".
func actionSummary(as []plan.Action) string {
	if len(as) == 0 {
		return "-"
	}
	byKind := map[plan.ActionKind][]string{}
	var kinds []plan.ActionKind
	for _, a := range as {
		if _, ok := byKind[a.Kind]; !ok {
			kinds = append(kinds, a.Kind)
		}
		if a.Package != "" {
			byKind[a.Kind] = append(byKind[a.Kind], a.Package)
		} else {
			byKind[a.Kind] = byKind[a.Kind][:0:0]
		}
	}
	var parts []string
	for _, k := range kinds {
		if len(byKind[k]) == 0 {
			parts = append(parts, string(k))
			continue
		}
		pk := byKind[k]
		if len(pk) > 4 {
			pk = append(pk[:4:4], fmt.Sprintf("+%d", len(byKind[k])-4))
		}
		parts = append(parts, string(k)+" "+strings.Join(pk, ", "))
	}
	return strings.Join(parts, "; ")
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
