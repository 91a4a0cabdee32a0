package advisory

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
)

// Exposure is one advisory's findings across the fleet with its risk.
type Exposure struct {
	Advisory *Advisory `json:"-"`
	ID       string    `json:"advisory"`
	CVEs     []string  `json:"cves,omitempty"`
	Summary  string    `json:"summary,omitempty"`
	// Hosts are the exposed host ids (any finding verdict), sorted.
	Hosts []string `json:"hosts"`
	// ByVerdict counts exposed hosts per verdict; NoFix hosts have no
	// remedy yet and are never counted as compliant.
	ByVerdict map[Verdict]int `json:"byVerdict"`
	// ByRing counts exposed hosts per ring ("" = in no ring).
	ByRing map[string]int `json:"byRing"`
	// Fixes are the fixes that would close the affected findings, one per
	// host stream and package.
	Fixes []Fix `json:"fixes,omitempty"`
	Risk  Risk  `json:"risk"`
}

// Fix is one floor that remediates an advisory on one host stream.
type Fix struct {
	HostStream string `json:"stream"`
	Package    string `json:"package"`
	Kind       Kind   `json:"kind"`
	Fixed      string `json:"fixed"`
	Module     string `json:"module,omitempty"`
	Hosts      int    `json:"hosts"`
}

// Risk is a reproducible score with every input that made it.
type Risk struct {
	// Score is 0–100 (see Rank for the weights).
	Score float64 `json:"score"`
	// KEV is set when a CVE of the advisory is in the KEV catalogue.
	KEV    bool       `json:"kev"`
	KEVDue *time.Time `json:"kevDue,omitempty"`
	// EPSSPercentile is the highest percentile of the advisory's CVEs.
	EPSSPercentile float64 `json:"epssPercentile"`
	Severity       string  `json:"severity"`
	CVSS           float64 `json:"cvss,omitempty"`
	// Deadline is when the SLA for the severity (or KEV) runs out, counted
	// from the advisory's publication (or KEV dateAdded); zero when unknown.
	Deadline time.Time `json:"deadline,omitzero"`
	// Inputs lists each contribution to Score.
	Inputs []Input `json:"inputs"`
}

// Input is one contribution to a risk score.
type Input struct {
	Name   string  `json:"name"`
	Value  string  `json:"value"`
	Points float64 `json:"points"`
}

// RankOptions carry what ranking needs besides the matches.
type RankOptions struct {
	// Repo gives the ring order (the last ring, prod, weighs most) and SLA.
	Repo *baseline.Repository
	Now  time.Time
}

// The weights of a score (they sum to 100).
const (
	pointsKEV      = 40 // in KEV
	pointsKEVDue   = 10 // KEV due date passed (scaled down to 0 at 30 days out)
	pointsEPSS     = 20 // × EPSS percentile
	pointsSeverity = 15 // critical 15, high 11, medium 7, low 3
	pointsExposure = 10 // log-scaled ring-weighted host count, full at 10,000
	pointsAge      = 5  // age / SLA days, capped
)

// Rank aggregates a match result per advisory and scores it. The order is
// KEV first (earliest due date first), then score, then id; equal inputs
// give equal output. Advisories without a finding are left out.
func Rank(res *Result, db *DB, opts RankOptions) []Exposure {
	type acc struct {
		e     *Exposure
		hosts map[string]Verdict
		fixes map[[3]string]*Fix
	}
	by := map[*Advisory]*acc{}
	var order []*Advisory
	ringWeight := map[string]float64{"": 1}
	sla := baseline.SLA{Critical: 15, High: 30, Medium: 90, Low: 180, KEV: 14}
	if opts.Repo != nil {
		n := len(opts.Repo.Rings)
		for i, r := range opts.Repo.Rings {
			ringWeight[r.Name] = 1 + 2*float64(i)/float64(max(n-1, 1)) // first 1, last 3
		}
		sla = opts.Repo.Config.SLA
	}
	// Walk each set's findings once and credit all of its hosts.
	hostsOf := make([][]HostMatch, len(res.Sets))
	for _, h := range res.Hosts {
		hostsOf[h.Set] = append(hostsOf[h.Set], h)
	}
	for si := range res.Sets {
		if len(hostsOf[si]) == 0 {
			continue
		}
		for _, f := range res.Sets[si].Findings {
			if !f.Verdict.IsFinding() {
				continue
			}
			a := by[f.Advisory]
			if a == nil {
				a = &acc{e: &Exposure{Advisory: f.Advisory, ID: f.Advisory.ID, CVEs: f.Advisory.CVEs(), Summary: f.Advisory.Summary,
					ByVerdict: map[Verdict]int{}, ByRing: map[string]int{}}, hosts: map[string]Verdict{}, fixes: map[[3]string]*Fix{}}
				by[f.Advisory] = a
				order = append(order, f.Advisory)
			}
			for _, h := range hostsOf[si] {
				if prev, ok := a.hosts[h.HostID]; !ok || severityOfVerdict(f.Verdict) > severityOfVerdict(prev) {
					a.hosts[h.HostID] = f.Verdict
				}
			}
			if f.Verdict == VerdictAffected {
				stream := res.Sets[si].Stream
				k := [3]string{stream, f.Package, f.Fixed}
				fx := a.fixes[k]
				if fx == nil {
					fx = &Fix{HostStream: stream, Package: f.Package, Kind: f.Kind, Fixed: f.Fixed, Module: f.Module}
					a.fixes[k] = fx
				}
				fx.Hosts += len(hostsOf[si])
			}
		}
	}
	ringOf := map[string]string{}
	for _, h := range res.Hosts {
		ringOf[h.HostID] = h.Ring
	}
	out := make([]Exposure, 0, len(order))
	for _, adv := range order {
		a := by[adv]
		e := a.e
		weighted := 0.0
		for id, v := range a.hosts {
			e.Hosts = append(e.Hosts, id)
			e.ByVerdict[v]++
			e.ByRing[ringOf[id]]++
			w, ok := ringWeight[ringOf[id]]
			if !ok {
				w = 1
			}
			weighted += w
		}
		slices.Sort(e.Hosts)
		for _, fx := range a.fixes {
			e.Fixes = append(e.Fixes, *fx)
		}
		slices.SortFunc(e.Fixes, func(x, y Fix) int {
			return cmp.Or(strings.Compare(x.HostStream, y.HostStream), strings.Compare(x.Package, y.Package), strings.Compare(x.Fixed, y.Fixed))
		})
		e.Risk = score(adv, db, weighted, sla, opts.Now)
		out = append(out, *e)
	}
	slices.SortFunc(out, func(x, y Exposure) int {
		if x.Risk.KEV != y.Risk.KEV {
			if x.Risk.KEV {
				return -1
			}
			return 1
		}
		if x.Risk.KEV && !x.Risk.KEVDue.Equal(*y.Risk.KEVDue) {
			return x.Risk.KEVDue.Compare(*y.Risk.KEVDue)
		}
		if c := cmp.Compare(y.Risk.Score, x.Risk.Score); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out
}

func severityOfVerdict(v Verdict) int {
	switch v {
	case VerdictAffected:
		return 3
	case VerdictNoFix:
		return 2
	case VerdictWillNotFix:
		return 1
	}
	return 0
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

func score(a *Advisory, db *DB, weightedHosts float64, sla baseline.SLA, now time.Time) Risk {
	r := Risk{Severity: a.Severity}
	add := func(name, value string, pts float64) {
		pts = round2(pts)
		r.Inputs = append(r.Inputs, Input{Name: name, Value: value, Points: pts})
		r.Score += pts
	}
	var kevAdded time.Time
	if db.KEV != nil {
		for _, c := range a.CVEs() {
			if e, ok := db.KEV.Entries[c]; ok {
				if !r.KEV || e.DueDate.Before(*r.KEVDue) {
					due := e.DueDate
					r.KEV, r.KEVDue, kevAdded = true, &due, e.DateAdded
				}
			}
		}
	}
	if r.KEV {
		add("kev", "in CISA KEV since "+kevAdded.Format(time.DateOnly)+", due "+r.KEVDue.Format(time.DateOnly), pointsKEV)
		days := r.KEVDue.Sub(now).Hours() / 24
		switch {
		case days <= 0:
			add("kev-due", "due date passed", pointsKEVDue)
		case days < 30:
			add("kev-due", formatDays(days)+" to due date", pointsKEVDue*(1-days/30))
		}
	} else {
		add("kev", "not in CISA KEV", 0)
	}
	if db.EPSS != nil {
		best, bestID := -1.0, ""
		for _, c := range a.CVEs() {
			if s, ok := db.EPSS.Scores[c]; ok && s.Percentile > best {
				best, bestID = s.Percentile, c
			}
		}
		if best >= 0 {
			r.EPSSPercentile = best
			add("epss", bestID+" percentile "+formatFloat(best), pointsEPSS*best)
		} else {
			add("epss", "no EPSS score", 0)
		}
	}
	for _, c := range a.CVSS {
		r.CVSS = max(r.CVSS, c.Score)
	}
	sev := r.Severity
	src := "feed severity"
	if sev == "" && r.CVSS > 0 {
		sev, src = SeverityFromScore(r.CVSS), "from CVSS "+formatFloat(r.CVSS)
		r.Severity = sev
	}
	if sev == "" {
		sev, src = "medium", "unknown, counted as medium"
		r.Severity = sev
	}
	sp := map[string]float64{"critical": 15, "high": 11, "medium": 7, "low": 3}[sev]
	add("severity", sev+" ("+src+")", sp)
	ep := 0.0
	if weightedHosts > 0 {
		ep = math.Min(1, math.Log10(1+weightedHosts)/4) * pointsExposure
	}
	add("exposure", formatFloat(weightedHosts)+" ring-weighted hosts (prod ×3)", ep)
	start := a.Published
	days := sla.Days(sev)
	if r.KEV {
		start = kevAdded
		if sla.KEV < days || days == 0 {
			days = sla.KEV
		}
	}
	if !start.IsZero() && days > 0 {
		r.Deadline = start.AddDate(0, 0, days)
		age := now.Sub(start).Hours() / 24
		add("age", formatDays(age)+" old, SLA "+formatDays(float64(days)), pointsAge*math.Min(1, math.Max(0, age/float64(days))))
	} else {
		add("age", "publication date unknown", 0)
	}
	r.Score = round2(r.Score)
	return r
}

func formatFloat(f float64) string { return strconvFloat(f) }

func formatDays(d float64) string { return strconvFloat(math.Round(d)) + " d" }
