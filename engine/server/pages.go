package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/history"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/rollout"
	"github.com/patchbay/patchbay/engine/store"
)

// trendDays is how many days the overview's trend chart shows.
const trendDays = 90

func (s *Server) planOrError(w http.ResponseWriter, r *http.Request) (*plan.Plan, *Model, bool) {
	m, err := s.model()
	if err == nil {
		var p *plan.Plan
		if p, err = s.FleetPlan(r.Context(), plan.Options{}); err == nil {
			return p, m, true
		}
	}
	s.log.Error("dashboard plan", "err", err)
	http.Error(w, "the plan is not available (no patch repository loaded yet?): see the server log", http.StatusServiceUnavailable)
	return nil, nil, false
}

func (s *Server) rolloutList(ctx context.Context) []api.Rollout {
	if s.rc == nil {
		return nil
	}
	l, err := s.rc.List(ctx)
	if err != nil {
		s.log.Warn("dashboard rollouts", "err", err)
		return nil
	}
	return l.Rollouts
}

// ringPct is a ring's compliance, or "no hosts".
func ringPct(r plan.RollUp) cell {
	if r.Hosts == 0 {
		return cell{Text: "no hosts", Class: "muted", Num: true}
	}
	c := cell{Text: pct(r.CompliancePercent, true), Num: true}
	if r.CompliancePercent < 100 {
		c.Class = "warn"
	}
	return c
}

func (s *Server) overviewPage(w http.ResponseWriter, r *http.Request, v Viewer) {
	p, m, ok := s.planOrError(w, r)
	if !ok {
		return
	}
	now := s.now().UTC()
	pg := page{Title: "Fleet compliance", Nav: "overview", Viewer: v, Refresh: true}
	overdueHosts := 0
	for _, h := range p.Hosts.All() {
		for _, res := range h.Results {
			if res.Overdue && history.Open(res.State) {
				overdueHosts++
				break
			}
		}
	}
	pg.Figures = []figure{
		{Label: "hosts", Value: num(p.Fleet.Hosts), Href: "/hosts"},
		{Label: "compliant", Value: pct(p.Fleet.CompliancePercent, p.Fleet.Hosts > 0), Href: "/hosts?status=COMPLIANT"},
		{Label: "hosts with overdue findings", Value: num(overdueHosts), Class: map[bool]string{true: "bad", false: "ok"}[overdueHosts > 0], Href: "/hosts?overdue=1"},
		{Label: "reboot needed", Value: num(p.Fleet.RebootNeeded)},
	}

	// Trend per ring, from the daily roll-ups.
	from := now.Truncate(24*time.Hour).AddDate(0, 0, -(trendDays - 1))
	var ss []series
	if s.cfg.History != nil {
		rus, err := s.st.Rollups(r.Context(), history.ScopeRing, from, now.Add(24*time.Hour))
		if err != nil {
			s.log.Warn("dashboard rollups", "err", err)
		}
		byRing := map[string]map[time.Time]float64{}
		for _, ru := range rus {
			if v, ok := history.Percent(ru); ok {
				if byRing[ru.Name] == nil {
					byRing[ru.Name] = map[time.Time]float64{}
				}
				byRing[ru.Name][ru.Day] = v
			}
		}
		for _, ring := range m.Repo.Rings {
			ss = append(ss, series{Name: ring.Name, Points: byRing[ring.Name]})
		}
		pg.Charts = append(pg.Charts, trendChart(fmt.Sprintf("Compliant hosts per ring, last %d days", trendDays), from, trendDays, ss))
	}

	rings := table{Name: "rings", Title: "Rings", Header: []string{"Ring", "Baseline", "Hosts", "Compliance", "Non-compliant", "Stale", "Overdue findings", "Reboot needed"},
		NumCols: map[int]bool{2: true, 3: true, 4: true, 5: true, 6: true, 7: true}}
	for _, ru := range p.Rings {
		bl := ""
		for _, b := range p.Baselines {
			if b.Ring == ru.Name {
				bl = b.ID
			}
		}
		rings.Rows = append(rings.Rows, []cell{link(ru.Name, ringHref(ru.Name)), text(bl), count(ru.Hosts), ringPct(ru),
			count(ru.ByStatus[plan.NonCompliant]), count(ru.ByStatus[plan.Stale]), countBad(ru.Overdue), count(ru.RebootNeeded)})
	}
	f := p.Fleet
	rings.Rows = append(rings.Rows, []cell{text("fleet"), text(""), count(f.Hosts), ringPct(f), count(f.ByStatus[plan.NonCompliant]),
		count(f.ByStatus[plan.Stale]), countBad(f.Overdue), count(f.RebootNeeded)})
	rings.Note = fmt.Sprintf("Outside the plan: %s unassigned, %s ambiguous, %s with an unknown stream, %s uncovered.",
		num(f.ByStatus[plan.Unassigned]), num(f.ByStatus[plan.Ambiguous]), num(f.ByStatus[plan.UnknownStream]), num(f.ByStatus[plan.Uncovered]))

	streams := table{Name: "streams", Title: "Streams", Header: []string{"Stream", "Hosts", "Compliance", "Overdue findings"}, NumCols: map[int]bool{1: true, 2: true, 3: true}}
	for _, ru := range p.Streams {
		streams.Rows = append(streams.Rows, []cell{link(ru.Name, "/hosts?stream="+ru.Name), count(ru.Hosts), ringPct(ru), countBad(ru.Overdue)})
	}

	pg.Tables = append(pg.Tables, rings, s.attainmentTable(), overdueByAge(p, now), streams)
	pg.Tables = append(pg.Tables, slaBreaches(p), rolloutsNow(s.rolloutList(r.Context())))
	if ps := s.publishStatus(r.Context()); ps != nil {
		// The audit trail's publishing backlog: records the controller wrote
		// that have not reached the patch repository's remote yet.
		fig := figure{Label: "audit records waiting to be published", Value: num(ps.Backlog), Href: "/audit"}
		if ps.LastError != "" {
			fig.Class = "bad"
			fig.Label += " (last push failed: " + ps.LastError + ")"
		}
		pg.Figures = append(pg.Figures, fig)
	}
	s.render(w, r, http.StatusOK, pg)
}

// attainmentTable is SLA attainment this cycle and the previous one, from
// the history (empty without one).
func (s *Server) attainmentTable() table {
	t := table{Name: "sla", Title: "SLA attainment", Header: []string{"Group", "This cycle", "Met", "Missed", "Pending", "Previous cycle"},
		NumCols: map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true}, Empty: "No history is recorded (the server runs without it)."}
	if s.cfg.History == nil {
		return t
	}
	sum := s.cfg.History.Summary()
	if sum == nil {
		t.Empty = "Not computed yet: the history rolls up a few minutes after the server starts."
		return t
	}
	cur := sum.From
	a, b := sum.Current, sum.Previous
	for i, g := range a {
		p1, ok1 := g.Percent()
		p0, ok0 := b[i].Percent()
		c := cell{Text: pct(p1, ok1), Num: true}
		if ok1 && p1 < 100 {
			c.Class = "warn"
		}
		t.Rows = append(t.Rows, []cell{text(g.Group), c, count(g.Met), countBad(g.Missed), count(g.Pending), {Text: pct(p0, ok0), Num: true}})
	}
	t.Note = fmt.Sprintf("Cycle %s: findings due this month, met when remediated by their deadline; — means nothing was due yet. Computed %s.", cur.Format("2006-01"), dateTime(sum.ComputedAt))
	return t
}

// overdueByAge buckets overdue open results by days past their deadline.
func overdueByAge(p *plan.Plan, now time.Time) table {
	buckets := []struct {
		label string
		upTo  int
	}{{"1–7 days", 7}, {"8–30 days", 30}, {"31–90 days", 90}, {"over 90 days", 1 << 30}}
	counts := make([][3]int, len(buckets)) // findings, critical+KEV, hosts
	for _, h := range p.Hosts.All() {
		seen := make([]bool, len(buckets))
		for _, res := range h.Results {
			if !res.Overdue || !history.Open(res.State) {
				continue
			}
			age := int(now.Sub(res.Deadline).Hours()/24) + 1
			for i, b := range buckets {
				if age <= b.upTo {
					counts[i][0]++
					if res.Rule.KEV || res.Rule.Severity == "critical" {
						counts[i][1]++
					}
					if !seen[i] {
						counts[i][2]++
						seen[i] = true
					}
					break
				}
			}
		}
	}
	t := table{Name: "overdue-age", Title: "Overdue findings by age", Header: []string{"Past deadline", "Findings", "Critical or KEV", "Hosts"},
		NumCols: map[int]bool{1: true, 2: true, 3: true}}
	for i, b := range buckets {
		t.Rows = append(t.Rows, []cell{text(b.label), countBad(counts[i][0]), countBad(counts[i][1]), count(counts[i][2])})
	}
	return t
}

func slaBreaches(p *plan.Plan) table {
	t := table{Name: "breaches", Title: "SLA breaches", Header: []string{"Risk", "Severity", "KEV", "Stream", "Rule", "State", "Hosts", "Deadline", "Advisories"},
		NumCols: map[int]bool{0: true, 6: true}, Empty: "No finding is past its deadline."}
	for _, f := range p.Findings {
		if !f.Overdue {
			continue
		}
		kev := ""
		if f.Rule.KEV {
			kev = "KEV"
		}
		t.Rows = append(t.Rows, []cell{count(f.Risk), text(f.Rule.Severity), {Text: kev, Class: "bad"}, text(f.Stream), text(f.Rule.Ref()), text(string(f.State)),
			count(f.Hosts), {Text: date(f.Deadline), Class: "bad"}, text(strings.Join(f.Rule.Advisories, " "))})
	}
	return t
}

// rolloutCounts renders a rollout's hosts per state: a host being worked
// on is "running", not nothing.
func rolloutRow(ro api.Rollout) []cell {
	state := ro.State
	c := ro.Hosts
	st := text(state)
	if state == "unreviewed" {
		// No gate decision or counted approval started it: an admin's
		// break-glass approval (patchbay rollout approve) is needed.
		st.Class = "bad"
	}
	return []cell{link(ro.ID, rolloutHref(ro.ID)), link(ro.Ring, ringHref(ro.Ring)), text(ro.BaselineID), st, count(ro.Wave),
		count(c.Total), count(c.Pending), count(c.Running), count(c.Succeeded), countBad(c.Failed), countBad(c.TimedOut), text(ro.Hold)}
}

var rolloutHeader = []string{"Rollout", "Ring", "Baseline", "State", "Wave", "Hosts", "Pending", "Running", "Succeeded", "Failed", "Timed out", "Waiting for"}
var rolloutNum = map[int]bool{4: true, 5: true, 6: true, 7: true, 8: true, 9: true, 10: true}

func rolloutDone(state string) bool {
	switch state {
	case rollout.StateCompleted, rollout.StateAborted, rollout.StateSuperseded, rollout.StateVerified, rollout.StateFailed:
		return true
	}
	return false
}

// rolloutsNow splits the open rollouts into rolling out now and waiting
// (for a window, a freeze, a soak or a halt: Hold says which).
func rolloutsNow(ros []api.Rollout) table {
	t := table{Name: "rollouts-now", Title: "Rolling out now and waiting", Header: append([]string(nil), rolloutHeader...), NumCols: rolloutNum,
		Empty: "No rollout is open.", Note: "Waiting for: why no new wave starts now (a maintenance window, a freeze, a halt); empty while hosts are being patched."}
	for _, ro := range ros {
		if rolloutDone(ro.State) {
			continue
		}
		t.Rows = append(t.Rows, rolloutRow(ro))
	}
	return t
}

func (s *Server) rolloutsPage(w http.ResponseWriter, r *http.Request, v Viewer) {
	t := table{Name: "rollouts", Title: "All rollouts", Header: append([]string{"Created"}, rolloutHeader...), NumCols: map[int]bool{}, Empty: "No rollouts (the controller runs when the patch repository is a Git repository)."}
	for k := range rolloutNum {
		t.NumCols[k+1] = true
	}
	for _, ro := range s.rolloutList(r.Context()) {
		t.Rows = append(t.Rows, append([]cell{text(dateTime(ro.CreatedAt))}, rolloutRow(ro)...))
	}
	s.render(w, r, http.StatusOK, page{Title: "Rollouts", Nav: "rollouts", Viewer: v, Tables: []table{t}})
}

// hostFilter is the hosts page's query.
type hostFilter struct {
	q, ring, stream, status, labelK, labelV string
	overdue                                 bool
}

func (f hostFilter) match(h *plan.Host) bool {
	if f.q != "" && !strings.Contains(strings.ToLower(h.ID), f.q) && !strings.Contains(strings.ToLower(h.Hostname), f.q) {
		return false
	}
	if f.ring != "" && h.Ring != f.ring || f.stream != "" && h.Stream != f.stream || f.status != "" && string(h.Status) != f.status {
		return false
	}
	if f.overdue && !slices.ContainsFunc(h.Results, func(r plan.Result) bool { return r.Overdue && history.Open(r.State) }) {
		return false
	}
	return true
}

// maxHostRows bounds the hosts shown on a page; the CSV has all.
const maxHostRows = 500

func (s *Server) hostsPage(w http.ResponseWriter, r *http.Request, v Viewer) {
	s.hostList(w, r, v, "Hosts", "")
}

func (s *Server) ringPage(w http.ResponseWriter, r *http.Request, v Viewer) {
	s.hostList(w, r, v, "Ring "+r.PathValue("name"), r.PathValue("name"))
}

func (s *Server) hostList(w http.ResponseWriter, r *http.Request, v Viewer, title, ring string) {
	p, m, ok := s.planOrError(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := hostFilter{q: strings.ToLower(strings.TrimSpace(q.Get("q"))), ring: q.Get("ring"), stream: q.Get("stream"), status: q.Get("status"), overdue: q.Get("overdue") != ""}
	if ring != "" {
		f.ring = ring
		if !slices.ContainsFunc(m.Repo.Rings, func(rg *baseline.Ring) bool { return rg.Name == ring }) {
			http.Error(w, "no ring "+ring+" in the patch repository", http.StatusNotFound)
			return
		}
	}
	label := strings.TrimSpace(q.Get("label"))
	if label != "" {
		f.labelK, f.labelV, _ = strings.Cut(label, "=")
	}
	var labels map[string]map[string]string
	if f.labelK != "" {
		labels = map[string]map[string]string{}
		hs, err := s.allHosts(r.Context())
		if err != nil {
			http.Error(w, "hosts are not available: see the server log", http.StatusServiceUnavailable)
			return
		}
		for _, h := range hs {
			labels[h.ID] = h.Labels
		}
	}
	form := &filterForm{Q: q.Get("q"), Ring: f.ring, Stream: f.stream, Status: f.status, Label: label, Overdue: f.overdue}
	for _, rg := range m.Repo.Rings {
		form.Rings = append(form.Rings, rg.Name)
	}
	for _, st := range p.Streams {
		form.Streams = append(form.Streams, st.Name)
	}
	for _, st := range plan.HostStatuses {
		form.Statuses = append(form.Statuses, string(st))
	}
	t := table{Name: "hosts", Title: "Hosts", Header: []string{"Host", "Hostname", "Ring", "Stream", "Status", "Open findings", "Overdue", "Next deadline", "Risk", "Last report"},
		NumCols: map[int]bool{5: true, 6: true, 8: true}, Empty: "No host matches."}
	matched := 0
	csv := r.URL.Query().Get("csv") != ""
	for _, h := range p.Hosts.All() {
		if !f.match(&h) {
			continue
		}
		if f.labelK != "" {
			if lv, ok := labels[h.ID][f.labelK]; !ok || f.labelV != "" && lv != f.labelV {
				continue
			}
		}
		matched++
		if matched > maxHostRows && !csv {
			continue
		}
		open, overdue := 0, 0
		for _, res := range h.Results {
			if history.Open(res.State) {
				open++
				if res.Overdue {
					overdue++
				}
			}
		}
		status := cell{Text: string(h.Status)}
		if h.Status == plan.Compliant {
			status.Class = "ok"
		} else if h.Status == plan.NonCompliant {
			status.Class = "warn"
		}
		ringCell := text(h.Ring)
		if h.Ring != "" {
			ringCell = link(h.Ring, ringHref(h.Ring))
		}
		t.Rows = append(t.Rows, []cell{link(h.ID, hostHref(h.ID)), text(h.Hostname), ringCell, text(h.Stream), status, count(open), countBad(overdue),
			text(date(h.NextDeadline)), count(h.Risk), text(dateTime(h.ReportedAt))})
	}
	if matched > maxHostRows && !csv {
		t.Note = fmt.Sprintf("Showing %s of %s matching hosts; the CSV has all of them.", num(maxHostRows), num(matched))
	} else {
		t.Note = plural(matched, "host") + " match."
	}
	pg := page{Title: title, Nav: "hosts", Viewer: v, Form: form, Tables: []table{t}}
	if ring != "" {
		for _, ru := range p.Rings {
			if ru.Name == ring {
				pg.Figures = []figure{{Label: "hosts", Value: num(ru.Hosts)}, {Label: "compliant", Value: ringPct(ru).Text}, {Label: "overdue findings", Value: num(ru.Overdue)}}
			}
		}
		if s.cfg.History != nil {
			now := s.now().UTC()
			from := now.Truncate(24*time.Hour).AddDate(0, 0, -(trendDays - 1))
			rus, _ := s.st.Rollups(r.Context(), history.ScopeRing, from, now.Add(24*time.Hour))
			pts := map[time.Time]float64{}
			for _, ru := range rus {
				if v, ok := history.Percent(ru); ok && ru.Name == ring {
					pts[ru.Day] = v
				}
			}
			pg.Charts = append(pg.Charts, trendChart("Compliant hosts in "+ring, from, trendDays, []series{{Name: ring, Points: pts}}))
		}
		var ros []cell
		for _, ro := range s.rolloutList(r.Context()) {
			if ro.Ring == ring && len(ros) < 1 {
				ros = rolloutRow(ro)
			}
		}
		if ros != nil {
			pg.Tables = append(pg.Tables, table{Name: "latest-rollout", Title: "Latest rollout", Header: rolloutHeader, NumCols: rolloutNum, Rows: [][]cell{ros}})
		}
	}
	s.render(w, r, http.StatusOK, pg)
}

func (s *Server) allHosts(ctx context.Context) ([]store.Host, error) {
	var out []store.Host
	after := ""
	for {
		hs, err := s.st.Hosts(ctx, store.HostFilter{After: after, Limit: 10000})
		if err != nil {
			return nil, err
		}
		out = append(out, hs...)
		if len(hs) < 10000 {
			return out, nil
		}
		after = hs[len(hs)-1].ID
	}
}

func (s *Server) hostPage(w http.ResponseWriter, r *http.Request, v Viewer) {
	ctx := r.Context()
	id := r.PathValue("id")
	h, err := s.st.Host(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "no host "+id, http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, "the host is not available: see the server log", http.StatusServiceUnavailable)
		return
	}
	ph, err := s.HostPlan(ctx, h)
	if err != nil {
		s.log.Warn("dashboard host plan", "host", id, "err", err)
	}
	pg := page{Title: "Host " + id, Nav: "hosts", Viewer: v}
	pg.Figures = []figure{{Label: "hostname", Value: orDash(h.Hostname)}, {Label: "stream", Value: orDash(h.Stream)}, {Label: "last report", Value: dateTime(h.LastReportAt)}}
	if ph != nil {
		pg.Figures = append(pg.Figures, figure{Label: "ring", Value: orDash(ph.Ring), Href: map[bool]string{true: ringHref(ph.Ring)}[ph.Ring != ""]},
			figure{Label: "status", Value: string(ph.Status), Class: map[bool]string{true: "ok", false: "bad"}[ph.Status == plan.Compliant]},
			figure{Label: "baseline", Value: orDash(ph.Baseline)})
		res := table{Name: "rules", Title: "Installed vs required", Header: []string{"Rule", "Severity", "Required", "Installed", "State", "Deadline", "Evidence"},
			Empty: "The ring's baseline has no rules for this host's stream."}
		for _, rr := range ph.Results {
			req := rr.Rule.Min
			switch {
			case rr.Rule.Pin != "":
				req = "= " + rr.Rule.Pin
			case rr.Rule.Hold != "":
				req = "hold"
			case req != "":
				req = "≥ " + req
			}
			var inst []string
			for _, o := range rr.Installed {
				inst = append(inst, o.Package+" "+o.Version)
			}
			sev := rr.Rule.Severity
			if rr.Rule.KEV {
				sev += " KEV"
			}
			st := cell{Text: string(rr.State)}
			if history.Open(rr.State) {
				st.Class = "warn"
			}
			dl := cell{}
			if history.Open(rr.State) {
				dl = text(date(rr.Deadline))
				if rr.Overdue {
					dl.Class = "bad"
				}
			}
			res.Rows = append(res.Rows, []cell{text(rr.Rule.Ref()), text(sev), text(req), text(strings.Join(inst, ", ")), st, dl, text(rr.Evidence)})
		}
		pg.Tables = append(pg.Tables, res)
	}
	if s.cfg.History != nil {
		changes, err := s.st.StateChanges(ctx, store.ChangeFilter{HostID: id})
		if err != nil {
			s.log.Warn("dashboard host history", "host", id, "err", err)
		}
		ht := table{Name: "history", Title: "History", Header: []string{"When", "Rule", "Severity", "State", "Deadline", "Rollout"}, Empty: "No change recorded yet."}
		for i := len(changes) - 1; i >= 0; i-- {
			c := changes[i]
			st := history.StateOf(c.State)
			name := string(st)
			if st == history.Gone {
				name = "no longer required"
			}
			ro := text("")
			if c.RolloutID != "" {
				ro = link(c.RolloutID, rolloutHref(c.RolloutID))
			}
			ht.Rows = append(ht.Rows, []cell{text(dateTime(c.At)), text(c.Rule.Kind + "/" + c.Rule.Name), text(c.Rule.Severity), text(name), text(date(c.Deadline)), ro})
		}
		pg.Tables = append(pg.Tables, ht)
	}
	steps, err := s.st.HostSteps(ctx, id)
	if err != nil {
		s.log.Warn("dashboard host steps", "host", id, "err", err)
	}
	stt := table{Name: "steps", Title: "Steps run on this host", Header: []string{"When", "Action", "Status", "Rollout", "Baseline digest"}, Empty: "No step recorded."}
	for _, st := range steps {
		c := text(st.Status)
		if st.Status != "succeeded" && st.Status != "ok" {
			c.Class = "bad"
		}
		stt.Rows = append(stt.Rows, []cell{text(dateTime(st.RecordedAt)), text(st.Key.Action), c, link(st.RolloutID, rolloutHref(st.RolloutID)), text(shortDigest(st.Key.BaselineDigest))})
	}
	hr, err := s.st.HostRollouts(ctx, id)
	if err != nil {
		s.log.Warn("dashboard host rollouts", "host", id, "err", err)
	}
	rt := table{Name: "host-rollouts", Title: "Rollouts this host was in", Header: []string{"Rollout", "Wave", "State", "Started", "Finished"}, NumCols: map[int]bool{1: true},
		Empty: "Not part of any rollout."}
	for _, x := range hr {
		rt.Rows = append(rt.Rows, []cell{link(x.RolloutID, rolloutHref(x.RolloutID)), count(x.Wave), text(x.State), text(dateTime(x.StartedAt)), text(dateTime(x.FinishedAt))})
	}
	pg.Tables = append(pg.Tables, stt, rt)
	s.render(w, r, http.StatusOK, pg)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func (s *Server) rolloutPage(w http.ResponseWriter, r *http.Request, v Viewer) {
	if s.rc == nil {
		http.Error(w, "no rollout controller runs on this server", http.StatusNotFound)
		return
	}
	ro, err := s.rc.Show(r.Context(), r.PathValue("id"))
	if err != nil {
		if errors.Is(err, rollout.ErrNotFound) {
			http.Error(w, "no rollout "+r.PathValue("id"), http.StatusNotFound)
			return
		}
		s.log.Warn("dashboard rollout", "err", err)
		http.Error(w, "the rollout is not available: see the server log", http.StatusServiceUnavailable)
		return
	}
	c := ro.Hosts
	pg := page{Title: "Rollout " + ro.ID, Nav: "rollouts", Viewer: v}
	pg.Figures = []figure{{Label: "ring", Value: ro.Ring, Href: ringHref(ro.Ring)}, {Label: "state", Value: ro.State}, {Label: "baseline", Value: ro.BaselineID},
		{Label: "commit", Value: ro.Commit[:min(len(ro.Commit), 12)]}, {Label: "created", Value: dateTime(ro.CreatedAt)}}
	if ro.PR != 0 {
		pg.Figures = append(pg.Figures, figure{Label: "pull request", Value: "#" + strconv.Itoa(ro.PR)})
	}
	if ro.Hold != "" {
		pg.Figures = append(pg.Figures, figure{Label: "waiting for", Value: ro.Hold, Class: "bad"})
	}
	states := table{Name: "hosts-by-state", Title: "Hosts by state", Header: []string{"Hosts", "Pending", "Running", "Succeeded", "Failed", "Timed out", "Cancelled"},
		NumCols: map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true, 5: true, 6: true},
		Rows:    [][]cell{{count(c.Total), count(c.Pending), count(c.Running), count(c.Succeeded), countBad(c.Failed), countBad(c.TimedOut), count(c.Cancelled)}},
		Note:    fmt.Sprintf("Budgets: at most %s at a time, halt after %s.", plural(ro.MaxConcurrency, "host"), plural(ro.MaxErrors, "error"))}
	waves := table{Name: "waves", Title: "Waves", Header: []string{"Wave", "Started", "Ended", "Hosts", "Running", "Succeeded", "Failed", "Timed out"},
		NumCols: map[int]bool{0: true, 3: true, 4: true, 5: true, 6: true, 7: true}, Empty: "No wave has started."}
	for _, wv := range ro.Waves {
		end := time.Time{}
		if wv.EndedAt != nil {
			end = *wv.EndedAt
		}
		waves.Rows = append(waves.Rows, []cell{count(wv.Wave), text(dateTime(wv.StartedAt)), text(dateTime(end)), count(wv.Hosts.Total), count(wv.Hosts.Running),
			count(wv.Hosts.Succeeded), countBad(wv.Hosts.Failed), countBad(wv.Hosts.TimedOut)})
	}
	evs, err := s.st.RolloutEvents(r.Context(), ro.ID)
	if err != nil {
		s.log.Warn("dashboard rollout events", "err", err)
	}
	et := table{Name: "records", Title: "This rollout's records", Header: []string{"When", "Record", "By", "In the audit trail", "Detail"},
		Empty: "No record yet."}
	for _, e := range evs {
		et.Rows = append(et.Rows, []cell{link(dateTime(e.At), eventHref(e.ID)), text(e.Kind), text(e.Actor), text(yesNo(e.Audited)), text(detail(e.Payload))})
	}
	et.Note = "The rollout's own records as the server keeps them; each is also signed into the patch repository's audit trail once published."
	figs, trail := s.trailTables(r.Context(), ro)
	pg.Figures = append(pg.Figures, figs...)
	pg.Tables = append(pg.Tables, trail...)
	pg.Tables = append(pg.Tables, states, waves, et)
	s.render(w, r, http.StatusOK, pg)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "not yet"
}

// detail shortens an event payload for a table cell.
func detail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" || s == "{}" || s == "null" {
		return ""
	}
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

func (s *Server) exceptionsPage(w http.ResponseWriter, r *http.Request, v Viewer) {
	p, m, ok := s.planOrError(w, r)
	if !ok {
		return
	}
	now := s.now().UTC()
	es := history.Exceptions(m.Repo, p, now, 14*24*time.Hour)
	t := table{Name: "exceptions", Title: "Exceptions", Header: []string{"Exception", "Rule", "Stream", "Scope", "Owner", "Reason", "Compensating control", "Granted", "Age", "Expires", "Hosts covered", "Status"},
		NumCols: map[int]bool{8: true, 10: true}, Empty: "No exception is declared in the patch repository."}
	expiring := 0
	for _, e := range es {
		rule := "package/" + e.Package
		if e.Source != "" {
			rule = "source/" + e.Source
		}
		scope := e.Ring
		if len(e.Hosts) > 0 {
			scope = strings.Join(e.Hosts, " ")
		}
		status := cell{Text: "active", Class: "ok"}
		switch {
		case !e.Active:
			status = cell{Text: "expired", Class: "bad"}
		case e.Expiring:
			expiring++
			status = cell{Text: fmt.Sprintf("expires in %s", plural(e.ExpiresInDays, "day")), Class: "warn"}
		}
		t.Rows = append(t.Rows, []cell{text(e.ID), text(rule), text(e.Stream), text(orDash(scope)), text(e.Owner), text(e.Reason), text(e.CompensatingControl),
			text(string(e.Granted)), {Text: plural(e.AgeDays, "day"), Num: true}, text(string(e.Expires)), count(e.Covered), status})
	}
	pg := page{Title: "Exceptions", Nav: "exceptions", Viewer: v, Tables: []table{t},
		Figures: []figure{{Label: "exceptions", Value: num(len(es))}, {Label: "expiring within 14 days", Value: num(expiring), Class: map[bool]string{true: "bad"}[expiring > 0]}}}
	s.render(w, r, http.StatusOK, pg)
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, v Viewer) {
	evs, err := s.st.RecentRolloutEvents(r.Context(), 1000)
	if err != nil {
		s.log.Warn("dashboard audit", "err", err)
		http.Error(w, "the audit trail is not available: see the server log", http.StatusServiceUnavailable)
		return
	}
	t := table{Name: "audit", Title: "Records (newest first)", Header: []string{"When", "Record", "Rollout", "By", "In the audit trail", "Detail"},
		Empty: "No record yet: records are written when rollouts start, change state and finish."}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].ID > evs[j].ID })
	for _, e := range evs {
		first := text(dateTime(e.At))
		first.ID = "ev-" + strconv.FormatInt(e.ID, 10)
		ro := text("—") // a record about the repository (token.changed, cycle.proposal) names no rollout
		if e.RolloutID != "" {
			ro = link(e.RolloutID, rolloutHref(e.RolloutID))
		}
		t.Rows = append(t.Rows, []cell{first, text(e.Kind), ro, text(e.Actor), text(yesNo(e.Audited)), text(detail(e.Payload))})
	}
	t.Note = "Each record is signed and chained in the patch repository as a Git note (refs/notes/patchbay); verify the whole chain offline with: patchbay audit verify -C DIR."
	s.render(w, r, http.StatusOK, page{Title: "Audit trail", Nav: "audit", Viewer: v, Tables: []table{t}})
}
