package server

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/patchbay/patchbay/engine/history"
	"github.com/patchbay/patchbay/engine/store"
)

// writeComplianceMetrics writes the compliance gauges per ring, stream and
// fleet from the latest daily roll-ups (the same numbers the dashboard
// shows; recomputed by the history every few minutes, so a scrape costs one
// indexed query), and this cycle's SLA attainment. Without a history it
// writes nothing.
func (s *Server) writeComplianceMetrics(ctx context.Context, w io.Writer) {
	if s.cfg.History == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	now := s.now().UTC()
	today := now.Truncate(24 * time.Hour)
	rs, err := s.st.Rollups(ctx, "", today.AddDate(0, 0, -1), today.AddDate(0, 0, 1))
	if err != nil {
		s.log.Warn("compliance metrics", "err", err)
		return
	}
	// The latest day per scope and name.
	latest := map[[2]string]store.Rollup{}
	var order [][2]string
	for _, r := range rs {
		k := [2]string{r.Scope, r.Name}
		if _, ok := latest[k]; !ok {
			order = append(order, k)
		}
		if old, ok := latest[k]; !ok || r.Day.After(old.Day) {
			latest[k] = r
		}
	}
	labels := func(r store.Rollup) string {
		switch r.Scope {
		case history.ScopeRing:
			return fmt.Sprintf("{ring=%q}", r.Name)
		case history.ScopeStream:
			return fmt.Sprintf("{stream=%q}", r.Name)
		}
		return ""
	}
	with := func(l, extra string) string {
		if l == "" {
			return "{" + extra + "}"
		}
		return l[:len(l)-1] + "," + extra + "}"
	}
	gauge := func(name, help string, f func(r store.Rollup, l string)) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
		for _, k := range order {
			r := latest[k]
			f(r, labels(r))
		}
	}
	gauge("patchbay_hosts", "Hosts per ring, stream and the fleet (no label), from the latest daily roll-up.", func(r store.Rollup, l string) {
		fmt.Fprintf(w, "patchbay_hosts%s %d\n", l, r.Hosts)
	})
	gauge("patchbay_hosts_compliant", "COMPLIANT hosts per ring, stream and the fleet.", func(r store.Rollup, l string) {
		fmt.Fprintf(w, "patchbay_hosts_compliant%s %d\n", l, r.Compliant)
	})
	gauge("patchbay_compliance_ratio", "COMPLIANT hosts over hosts (0-1); absent for a ring with no hosts.", func(r store.Rollup, l string) {
		if p, ok := history.Percent(r); ok {
			fmt.Fprintf(w, "patchbay_compliance_ratio%s %g\n", l, p/100)
		}
	})
	gauge("patchbay_findings_open", "Open findings (non-compliant rule results) by severity.", func(r store.Rollup, l string) {
		for _, x := range []struct {
			sev string
			n   int
		}{{"critical", r.Critical}, {"high", r.High}, {"medium", r.Medium}, {"low", r.Low}} {
			fmt.Fprintf(w, "patchbay_findings_open%s %d\n", with(l, fmt.Sprintf("severity=%q", x.sev)), x.n)
		}
	})
	gauge("patchbay_findings_kev_open", "Open findings flagged as known exploited (KEV).", func(r store.Rollup, l string) {
		fmt.Fprintf(w, "patchbay_findings_kev_open%s %d\n", l, r.KEV)
	})
	gauge("patchbay_findings_overdue", "Open findings past their SLA deadline.", func(r store.Rollup, l string) {
		fmt.Fprintf(w, "patchbay_findings_overdue%s %d\n", l, r.Overdue)
	})
	gauge("patchbay_hosts_reboot_pending", "Hosts with a reboot pending.", func(r store.Rollup, l string) {
		fmt.Fprintf(w, "patchbay_hosts_reboot_pending%s %d\n", l, r.RebootPending)
	})
	gauge("patchbay_exceptions_in_force", "Rule results waived by an exception.", func(r store.Rollup, l string) {
		fmt.Fprintf(w, "patchbay_exceptions_in_force%s %d\n", l, r.Excepted)
	})
	var att []history.Attainment
	if sum := s.cfg.History.Summary(); sum != nil {
		att = sum.Current
	}
	fmt.Fprintf(w, "# HELP patchbay_sla_attainment_ratio Findings due this cycle (month) remediated by their deadline, over those due (0-1); absent with nothing due.\n# TYPE patchbay_sla_attainment_ratio gauge\n")
	for _, a := range att {
		if p, ok := a.Percent(); ok {
			fmt.Fprintf(w, "patchbay_sla_attainment_ratio{group=%q} %g\n", a.Group, p/100)
		}
	}
	fmt.Fprintf(w, "# HELP patchbay_sla_missed Findings due this cycle not remediated by their deadline.\n# TYPE patchbay_sla_missed gauge\n")
	for _, a := range att {
		fmt.Fprintf(w, "patchbay_sla_missed{group=%q} %d\n", a.Group, a.Missed)
	}
}
