package plan

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/vercmp"
)

// overlaid is a host's results after its overlay, with what follows from
// them. Hosts with the same computation, reboot flag and covering
// exceptions share one.
type overlaid struct {
	results []Result
	actions []Action
	status  HostStatus
	risk    int
	next    time.Time
}

// overlayer applies host-specific facts, remembering the outcome per
// computation by overlayKey.
type overlayer struct {
	repo    *baseline.Repository
	now     time.Time
	active  []*baseline.Exception
	listed  []map[string]bool // per active exception, its hosts (nil: every host)
	key     []byte
	covered []*baseline.Exception
}

func newOverlayer(repo *baseline.Repository, now time.Time) *overlayer {
	o := &overlayer{repo: repo, now: now}
	for _, e := range repo.Exceptions {
		if !e.Active(now) {
			continue
		}
		o.active = append(o.active, e)
		var hosts map[string]bool
		if len(e.Hosts) > 0 {
			hosts = make(map[string]bool, len(e.Hosts))
			for _, h := range e.Hosts {
				hosts[h] = true
			}
		}
		o.listed = append(o.listed, hosts)
	}
	return o
}

// worker returns an overlayer for one more goroutine: it shares the
// exceptions and has its own buffers.
func (o *overlayer) worker() *overlayer {
	return &overlayer{repo: o.repo, now: o.now, active: o.active, listed: o.listed}
}

// apply returns the overlaid results of the host (id, stream, ring)
// computed by j. The key is the reboot flag and the indexes of the active
// exceptions covering the host; a host without either gets j.plain.
func (o *overlayer) apply(id, stream, ring string, j *job, reboot bool) *overlaid {
	o.key = o.key[:0]
	o.covered = o.covered[:0]
	if reboot {
		o.key = append(o.key, 1)
	} else {
		o.key = append(o.key, 0)
	}
	for i, e := range o.active {
		if e.Stream != stream || e.Ring != "" && e.Ring != ring || o.listed[i] != nil && !o.listed[i][id] {
			continue
		}
		o.key = binary.AppendUvarint(o.key, uint64(i))
		o.covered = append(o.covered, e)
	}
	if !reboot && len(o.covered) == 0 && j.plain != nil {
		return j.plain
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if out := j.overlays[string(o.key)]; out != nil {
		return out
	}
	out := overlay(j, reboot, o.covered)
	if j.overlays == nil {
		j.overlays = map[string]*overlaid{}
	}
	j.overlays[string(o.key)] = out
	return out
}

// overlay applies what is specific to one host to its shared computation: a
// pending reboot and the exceptions that cover it. The shared results are
// copied before any change.
func overlay(j *job, reboot bool, covering []*baseline.Exception) *overlaid {
	results := j.ev.results
	changed := false
	edit := func() {
		if !changed {
			results = slices.Clone(results)
			changed = true
		}
	}
	if reboot {
		for i := range results {
			if (results[i].State == Installed || results[i].State == InstalledOther) && results[i].Rule.Reboot {
				edit()
				results[i].State = InstalledPendingReboot
				results[i].Evidence += "; installed, but the host must reboot to run it"
			}
		}
	}
	for _, e := range covering {
		for i := range results {
			res := &results[i]
			if res.State.Compliant() || !waives(e, res.Rule) {
				continue
			}
			edit()
			res = &results[i]
			res.State = Excepted
			res.Exception = e.ID
			res.Evidence += "; waived by exception " + e.ID + " until " + string(e.Expires)
		}
	}
	out := &overlaid{results: results, actions: j.ev.actions, status: Compliant}
	if changed {
		out.actions = actions(results, j.ring, j.eco)
	}
	for _, res := range results {
		if res.State.Compliant() {
			continue
		}
		out.status = NonCompliant
		out.risk = max(out.risk, res.Risk)
		if out.next.IsZero() || res.Deadline.Before(out.next) {
			out.next = res.Deadline
		}
	}
	return out
}

// waives reports whether the exception names the rule.
func waives(e *baseline.Exception, r Rule) bool {
	return r.Kind == "package" && e.Package == r.Name || r.Kind == "source" && e.Source == r.Name
}

// actions lists what brings the host from its results to compliance: one
// action per package (constraints of several rules merged), ordered by
// package name, and a reboot last when the ring's policy asks for one.
func actions(results []Result, ring *baseline.Ring, eco vercmp.Ecosystem) []Action {
	byPkg := map[string]*Action{}
	needReboot := false
	higher := func(a, b string) string {
		if a == "" || b != "" && vercmp.Compare(eco, b, a) > 0 {
			return b
		}
		return a
	}
	get := func(name string) *Action {
		a := byPkg[name]
		if a == nil {
			a = &Action{Kind: Upgrade, Package: name}
			byPkg[name] = a
		}
		return a
	}
	for _, res := range results {
		r := res.Rule
		switch res.State {
		case InstalledPendingReboot:
			needReboot = true
			continue
		case Missing, BlockedVersion:
		default:
			continue
		}
		if r.Reboot {
			needReboot = true
		}
		if len(res.Installed) == 0 { // required but absent
			a := get(r.Name)
			a.Kind = Install
			if r.Kind == "package" {
				a.Version, a.Min = r.Pin, higher(a.Min, r.Min)
			} else {
				a.MinSource = higher(a.MinSource, cmp.Or(r.Pin, r.Min))
			}
			addRule(a, r, res.Evidence)
			continue
		}
		for _, o := range res.Installed {
			if o.State != Missing && o.State != BlockedVersion {
				continue
			}
			a := get(o.Package)
			addRule(a, r, o.Package+" "+o.Comparison)
			if o.State == BlockedVersion {
				a.Avoid = appendUnique(a.Avoid, o.Version)
			}
			switch {
			case r.Pin != "" && r.Kind == "package":
				a.Version = r.Pin
				if vercmp.Compare(eco, o.Compared, r.Pin) > 0 {
					a.Kind = Downgrade
				} else if a.Kind != Downgrade {
					a.Kind = Upgrade
				}
			case r.Pin != "":
				a.MinSource = higher(a.MinSource, r.Pin)
			case r.Min != "" && r.Kind == "package":
				a.Min = higher(a.Min, r.Min)
			case r.Min != "":
				a.MinSource = higher(a.MinSource, r.Min)
			}
		}
	}
	out := make([]Action, 0, len(byPkg)+1)
	for _, a := range byPkg {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b Action) int { return cmp.Compare(a.Package, b.Package) })
	if ring != nil {
		switch ring.Reboot {
		case "always":
			needReboot = needReboot || len(out) > 0
		case "never":
			needReboot = false
		}
	}
	if needReboot {
		out = append(out, Action{Kind: Reboot, Rules: []string{}, Reason: "ring " + ringName(ring) + " reboot policy " + rebootPolicy(ring)})
	}
	return out
}

func addRule(a *Action, r Rule, why string) {
	if !slices.Contains(a.Rules, r.Ref()) {
		a.Rules = append(a.Rules, r.Ref())
		slices.Sort(a.Rules)
	}
	if a.Reason == "" {
		a.Reason = why
	} else if !strings.Contains(a.Reason, why) {
		a.Reason += "; " + why
	}
}

func appendUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func ringName(r *baseline.Ring) string {
	if r == nil {
		return ""
	}
	return r.Name
}

func rebootPolicy(r *baseline.Ring) string {
	if r == nil {
		return "if-required"
	}
	return r.Reboot
}
