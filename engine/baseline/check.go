package baseline

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"cuelang.org/go/cue"

	"github.com/patchbay/patchbay/engine/vercmp"
)

// crossCheck runs the checks that need Go: uniqueness, references the
// schema cannot express, version syntax per ecosystem, and time.
func (l *loader) crossCheck(repo *Repository, rings map[string]*Ring) {
	l.checkRingOrder(repo, rings)
	l.checkBaselines(repo)
	l.checkRings(repo)
	l.checkExceptions(repo)
	l.checkCycles(repo)
}

// checkCycles: unique names, a schedule or kev (not both), the schedule's
// fields fit its every, a known time zone.
func (l *loader) checkCycles(repo *Repository) {
	seen := map[string]bool{}
	for i, c := range repo.Config.Cycles {
		p := fmt.Sprintf("config.cycles[%d]", i)
		if seen[c.Name] {
			l.errAt(p+".name", "cycle %q is declared twice: a cycle's name keys its pull request branches", c.Name)
		}
		seen[c.Name] = true
		switch {
		case c.Schedule == nil && c.KEV == nil:
			l.errNear(p+".name", p, "cycle %q has neither schedule nor kev: give one, e.g. schedule: {every: \"month\", week: 2, weekday: \"tuesday\", at: \"10:00\"} or kev: within: \"24h\"", c.Name)
		case c.Schedule != nil && c.KEV != nil:
			l.errNear(p+".kev.within", p, "cycle %q has both schedule and kev: make them two cycles", c.Name)
		case c.KEV != nil:
			if time.Duration(c.KEV.Within) < time.Hour {
				l.errAt(p+".kev.within", "kev.within must be at least 1h")
			}
		default:
			sc := c.Schedule
			sp := p + ".schedule"
			switch sc.Every {
			case "month":
				if sc.Week == nil || sc.Weekday == "" {
					l.errNear(sp+".every", sp, "a monthly cycle needs week (1-4 or \"last\") and weekday, e.g. week: 2, weekday: \"tuesday\" for the second Tuesday")
				}
			case "week":
				if sc.Weekday == "" {
					l.errNear(sp+".every", sp, "a weekly cycle needs weekday")
				}
				if sc.Week != nil {
					l.errAt(sp+".week", "week is for monthly cycles only")
				}
			case "day":
				if sc.Week != nil || sc.Weekday != "" {
					l.errNear(sp+".every", sp, "a daily cycle takes neither week nor weekday")
				}
			}
			if _, err := time.LoadLocation(sc.Timezone); err != nil {
				l.errAt(sp+".timezone", "unknown time zone %q (use an IANA name such as Europe/Berlin)", sc.Timezone)
			}
		}
	}
}

// errAt places an error at the value under path (dotted CUE path).
func (l *loader) errAt(p string, format string, args ...any) {
	pos := l.value.LookupPath(cue.ParsePath(p)).Pos()
	l.add(l.at(pos, p, fmt.Sprintf(format, args...)))
}

// errNear reports an error about path p at the position of the value
// under near (a field of p: a struct unified with its schema has no
// position of its own).
func (l *loader) errNear(near, p string, format string, args ...any) {
	pos := l.value.LookupPath(cue.ParsePath(near)).Pos()
	l.add(l.at(pos, p, fmt.Sprintf(format, args...)))
}

func (l *loader) checkRingOrder(repo *Repository, rings map[string]*Ring) {
	seen := map[string]bool{}
	for i, name := range repo.Config.Rings {
		if seen[name] {
			l.errAt(fmt.Sprintf("config.rings[%d]", i), "ring %q is listed twice in the promotion order", name)
		}
		seen[name] = true
		if _, declared := l.entities["rings."+quoteLabel(name)]; rings[name] == nil && !declared {
			l.errAt(fmt.Sprintf("config.rings[%d]", i), "ring %q is in the promotion order but rings/%s.cue does not exist", name, name)
		}
	}
}

func (l *loader) checkBaselines(repo *Repository) {
	for _, id := range repo.BaselineIDs() {
		b := repo.Baselines[id]
		bp := "baselines." + quoteLabel(id)
		if _, err := time.Parse(time.DateOnly, string(b.Created)); err != nil {
			l.errAt(bp+".created", "not a calendar date: %s", b.Created)
		}
		if b.Extends != "" && repo.Baselines[b.Extends] == nil {
			if l.broken["baselines."+quoteLabel(b.Extends)] {
				l.errAt(bp+".extends", "not fully checked: extends baseline %q, which has errors (reported above); its rules were left out until it is fixed", b.Extends)
			} else {
				l.errAt(bp+".extends", "extends baseline %q, which does not exist", b.Extends)
			}
		}
		for _, stream := range sortedKeys(b.Streams) {
			sp := bp + ".streams." + quoteLabel(stream)
			eco, ok := repo.Ecosystem(stream)
			if !ok {
				l.errAt(sp, "stream %q is not declared in config.streams", stream)
				continue
			}
			rules := b.Streams[stream]
			for _, kind := range []string{"packages", "sources"} {
				set := rules.Packages
				if kind == "sources" {
					set = rules.Sources
				}
				for _, name := range sortedKeys(set) {
					l.checkRule(sp+"."+kind+"."+quoteLabel(name), eco, set[name])
				}
			}
		}
	}
}

func (l *loader) checkRule(p string, eco vercmp.Ecosystem, r *Rule) {
	n := 0
	for _, set := range []bool{r.Min != "", r.Pin != "", r.Hold != nil} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		l.errAt(p, "a rule has one of min, pin or hold, not several")
	case n == 0 && len(r.Block) == 0:
		l.errAt(p, "empty rule: give min, pin, hold or block")
	}
	check := func(field, v string) {
		if v == "" {
			return
		}
		if err := vercmp.Validate(eco, v); err != nil {
			l.errAt(p+"."+field, "%v", err)
		}
	}
	check("min", r.Min)
	check("pin", r.Pin)
	for i, v := range r.Block {
		check(fmt.Sprintf("block[%d]", i), v)
		if r.Pin != "" && vercmp.Compare(eco, v, r.Pin) == 0 {
			l.errAt(fmt.Sprintf("%s.block[%d]", p, i), "version %q is both pinned and blocked", v)
		}
	}
	if r.Published != "" {
		if _, err := time.Parse(time.DateOnly, string(r.Published)); err != nil {
			l.errAt(p+".published", "not a calendar date: %s", r.Published)
		}
	}
}

func (l *loader) checkRings(repo *Repository) {
	owner := map[string]string{}
	for _, r := range repo.Rings {
		rp := "rings." + quoteLabel(r.Name)
		if len(r.Selector.Hosts) == 0 && len(r.Selector.Labels) == 0 {
			l.errAt(rp+".selector", "selects no hosts: give selector.hosts or selector.labels")
		}
		for i, h := range r.Selector.Hosts {
			if prev, dup := owner[h]; dup && prev != r.Name {
				l.errAt(fmt.Sprintf("%s.selector.hosts[%d]", rp, i), "host %q is also selected by ring %s: a host belongs to one ring", h, prev)
				continue
			}
			owner[h] = r.Name
		}
		for i, w := range r.Windows {
			if _, err := time.LoadLocation(w.Timezone); err != nil {
				l.errAt(fmt.Sprintf("%s.windows[%d].timezone", rp, i), "unknown time zone %q (use an IANA name such as Europe/Berlin)", w.Timezone)
			}
			if time.Duration(w.Duration) <= 0 || time.Duration(w.Duration) > 7*24*time.Hour {
				l.errAt(fmt.Sprintf("%s.windows[%d].duration", rp, i), "window length must be between 1m and 7d")
			}
		}
		st := time.Duration(r.Strategy.StepTimeout)
		if st < time.Minute {
			l.errAt(rp+".strategy.stepTimeout", "step timeout %s is too short: a host step needs at least 1m (default 15m)", r.Strategy.StepTimeout)
		}
		for i, w := range r.Windows {
			if d := time.Duration(w.Duration); d > 0 && st >= d {
				l.errAt(rp+".strategy.stepTimeout", "step timeout %s is not shorter than windows[%d] (%s): a host that stopped answering would hold its slot for the whole window; set strategy.stepTimeout below %s",
					r.Strategy.StepTimeout, i, w.Duration, w.Duration)
			}
		}
		for i, f := range r.Freeze {
			for _, d := range []Date{f.From, f.To} {
				if _, err := time.Parse(time.DateOnly, string(d)); err != nil {
					l.errAt(fmt.Sprintf("%s.freeze[%d]", rp, i), "not a calendar date: %s", d)
				}
			}
			if f.To < f.From {
				l.errAt(fmt.Sprintf("%s.freeze[%d].to", rp, i), "freeze ends (%s) before it starts (%s)", f.To, f.From)
			}
		}
		if b := repo.Baselines[r.Baseline]; b != nil {
			for _, g := range r.Approvals.Groups {
				if len(repo.Config.Approvers[g]) == 0 {
					l.errAt(rp+".approvals.groups", "approver group %q has no members", g)
				}
			}
		}
	}
}

func (l *loader) checkExceptions(repo *Repository) {
	for _, e := range repo.Exceptions {
		ep := "exceptions." + quoteLabel(e.ID)
		if _, ok := repo.Config.Streams[e.Stream]; !ok {
			l.errAt(ep+".stream", "stream %q is not declared in config.streams", e.Stream)
		}
		switch {
		case e.Package != "" && e.Source != "":
			l.errAt(ep, "an exception waives one rule: give package or source, not both")
		case e.Package == "" && e.Source == "":
			l.errAt(ep, "an exception names the rule it waives: give package or source")
		case l.dependsOnBroken(repo, e):
			l.errAt(ep, "not fully checked: %s errors (reported above); the waived rule is looked up once they are fixed", ringOrBaselines(e))
		default:
			if !l.ruleExists(repo, e) {
				what, name := "package", e.Package
				if e.Source != "" {
					what, name = "source", e.Source
				}
				l.errAt(ep+"."+what, "no baseline%s has a %s rule for %q in stream %s", ringClause(e), what, name, e.Stream)
			}
		}
		if e.Ring == "" && len(e.Hosts) == 0 {
			l.errAt(ep, "an exception needs ring or hosts to say whom it covers")
		}
		granted, gerr := time.Parse(time.DateOnly, string(e.Granted))
		expires, xerr := time.Parse(time.DateOnly, string(e.Expires))
		if gerr != nil {
			l.errAt(ep+".granted", "not a calendar date: %s", e.Granted)
		}
		if xerr != nil {
			l.errAt(ep+".expires", "not a calendar date: %s", e.Expires)
		}
		if gerr != nil || xerr != nil {
			continue
		}
		if !l.now.UTC().Before(expires.AddDate(0, 0, 1)) {
			msg := fmt.Sprintf("exception expired on %s (now is %s): renew it with a new expiry or remove it", e.Expires, l.now.UTC().Format(time.DateOnly))
			if l.expiryAsFinding {
				l.timeFindings = append(l.timeFindings, l.at(l.value.LookupPath(cue.ParsePath(ep+".expires")).Pos(), ep+".expires", msg))
			} else {
				l.errAt(ep+".expires", "%s", msg)
			}
		}
		if expires.Before(granted) {
			l.errAt(ep+".expires", "expires (%s) before it was granted (%s)", e.Expires, e.Granted)
		} else if max := repo.Config.Exceptions.MaxDays; expires.Sub(granted) > time.Duration(max)*24*time.Hour {
			l.errAt(ep+".expires", "runs %d days; config.exceptions.maxDays allows %d", int(expires.Sub(granted).Hours()/24), max)
		}
	}
}

// dependsOnBroken reports whether an exception's rule lookup needs an entity
// that has errors: its ring, the baseline that ring pins, or (without a ring)
// any baseline.
func (l *loader) dependsOnBroken(repo *Repository, e *Exception) bool {
	if e.Ring != "" {
		r := repo.Ring(e.Ring)
		if r == nil {
			return l.broken["rings."+quoteLabel(e.Ring)] || l.skip["rings."+quoteLabel(e.Ring)]
		}
		return l.broken["baselines."+quoteLabel(r.Baseline)]
	}
	if l.ruleExists(repo, e) {
		return false
	}
	for k := range l.broken {
		if strings.HasPrefix(k, "baselines.") {
			return true
		}
	}
	return false
}

func ringOrBaselines(e *Exception) string {
	if e.Ring != "" {
		return "ring " + e.Ring + " or the baseline it pins has"
	}
	return "some baselines have"
}

func ringClause(e *Exception) string {
	if e.Ring != "" {
		return " pinned by ring " + e.Ring
	}
	return ""
}

// ruleExists reports whether some baseline (the ring's pinned one when the
// exception names a ring) has the waived rule.
func (l *loader) ruleExists(repo *Repository, e *Exception) bool {
	var candidates []*Baseline
	if e.Ring != "" {
		if r := repo.Ring(e.Ring); r != nil && repo.Baselines[r.Baseline] != nil {
			candidates = append(candidates, repo.Baselines[r.Baseline])
		}
	} else {
		for _, id := range repo.BaselineIDs() {
			candidates = append(candidates, repo.Baselines[id])
		}
	}
	for _, b := range candidates {
		rules := b.Streams[e.Stream]
		if rules == nil {
			continue
		}
		if e.Package != "" && rules.Packages[e.Package] != nil || e.Source != "" && rules.Sources[e.Source] != nil {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
