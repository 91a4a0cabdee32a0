package plan

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/inventory"
)

// Effect is what a change (base commit → head commit) of the patch
// repository does. Its Digest — SHA-256 over its canonical JSON with the
// digest field and the plan delta empty — is a function of the two commits
// alone; the gate input carries it and the gate.decision record names it,
// next to the head commit the approvals are on.
type Effect struct {
	Base string `json:"base"`
	Head string `json:"head"`
	// BaselinesAdded are baselines that exist only at head.
	BaselinesAdded []BaselineChange `json:"baselinesAdded"`
	// BaselinesChanged are baselines whose digest differs. A change to a
	// baseline pinned by a ring at base violates immutability.
	BaselinesChanged []BaselineChange `json:"baselinesChanged"`
	BaselinesRemoved []BaselineChange `json:"baselinesRemoved"`
	// RingsMoved are rings whose pinned baseline changed, in promotion order.
	RingsMoved []RingMove `json:"ringsMoved"`
	// RingsChanged are rings whose definition changed otherwise (selector,
	// strategy, windows, approvals …).
	RingsChanged []string `json:"ringsChanged"`
	// Exceptions added, changed or removed, by id.
	ExceptionsAdded   []string `json:"exceptionsAdded"`
	ExceptionsChanged []string `json:"exceptionsChanged"`
	ExceptionsRemoved []string `json:"exceptionsRemoved"`
	// ConfigChanged says patchbay.cue's config changed.
	ConfigChanged bool `json:"configChanged"`
	// ChangedFiles are the repository paths the change touches, when known.
	ChangedFiles []string `json:"changedFiles"`
	// Delta is the plan delta per ring, when reports were given.
	Delta []RingDelta `json:"delta,omitempty"`
	// Immutable lists violations: baselines pinned at base whose digest changed.
	ImmutabilityViolations []string `json:"immutabilityViolations"`
	Digest                 string   `json:"digest"`
}

// BaselineChange is one added, changed or removed baseline.
type BaselineChange struct {
	ID     string `json:"id"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	// PinnedBy are the rings pinning the baseline at base.
	PinnedBy []string `json:"pinnedBy,omitempty"`
}

// RingMove is a ring whose pinned baseline changed.
type RingMove struct {
	Ring       string `json:"ring"`
	From       string `json:"from"`
	To         string `json:"to"`
	FromDigest string `json:"fromDigest"`
	ToDigest   string `json:"toDigest"`
}

// RingDelta is what the change does to one ring's hosts.
type RingDelta struct {
	Ring string `json:"ring"`
	// Hosts is the number of hosts in the ring at head.
	Hosts int `json:"hosts"`
	// HostsChanged counts hosts whose plan changes.
	HostsChanged int `json:"hostsChanged"`
	// CompliantBefore and CompliantAfter count compliant hosts.
	CompliantBefore int `json:"compliantBefore"`
	CompliantAfter  int `json:"compliantAfter"`
	// PackageChanges are the packages the change newly asks to act on, with
	// the number of hosts.
	PackageChanges []PackageCount `json:"packageChanges"`
	// RebootsExpected counts hosts whose new actions include a reboot.
	RebootsExpected int `json:"rebootsExpected"`
	// SampleHosts are up to 20 hosts that change.
	SampleHosts []string `json:"sampleHosts"`
}

// EffectInput is what an effect is computed from.
type EffectInput struct {
	Base, Head       *baseline.Repository
	BaseRev, HeadRev string
	ChangedFiles     []string
	Reports          []*inventory.Report
	Now              time.Time
	IncludePlanDelta bool
}

// ComputeEffect compares two loaded repositories and, with reports, the plans
// they produce.
func ComputeEffect(in EffectInput) *Effect {
	e := &Effect{Base: in.BaseRev, Head: in.HeadRev, ChangedFiles: slices.Clone(in.ChangedFiles),
		BaselinesAdded: []BaselineChange{}, BaselinesChanged: []BaselineChange{}, BaselinesRemoved: []BaselineChange{},
		RingsMoved: []RingMove{}, RingsChanged: []string{}, ExceptionsAdded: []string{}, ExceptionsChanged: []string{},
		ExceptionsRemoved: []string{}, ImmutabilityViolations: []string{}}
	if e.ChangedFiles == nil {
		e.ChangedFiles = []string{}
	}
	slices.Sort(e.ChangedFiles)
	pinned := map[string][]string{}
	for _, r := range in.Base.Rings {
		pinned[r.Baseline] = append(pinned[r.Baseline], r.Name)
	}
	for _, id := range in.Head.BaselineIDs() {
		hb := in.Head.Baselines[id]
		bb := in.Base.Baselines[id]
		switch {
		case bb == nil:
			e.BaselinesAdded = append(e.BaselinesAdded, BaselineChange{ID: id, After: hb.Digest})
		case bb.Digest != hb.Digest:
			e.BaselinesChanged = append(e.BaselinesChanged, BaselineChange{ID: id, Before: bb.Digest, After: hb.Digest, PinnedBy: pinned[id]})
			if len(pinned[id]) > 0 {
				e.ImmutabilityViolations = append(e.ImmutabilityViolations, id)
			}
		}
	}
	for _, id := range in.Base.BaselineIDs() {
		if in.Head.Baselines[id] == nil {
			bb := in.Base.Baselines[id]
			e.BaselinesRemoved = append(e.BaselinesRemoved, BaselineChange{ID: id, Before: bb.Digest, PinnedBy: pinned[id]})
		}
	}
	for _, hr := range in.Head.Rings {
		br := in.Base.Ring(hr.Name)
		if br == nil {
			e.RingsChanged = append(e.RingsChanged, hr.Name)
			continue
		}
		if br.Baseline != hr.Baseline {
			e.RingsMoved = append(e.RingsMoved, RingMove{Ring: hr.Name, From: br.Baseline, To: hr.Baseline,
				FromDigest: in.Base.Baselines[br.Baseline].Digest, ToDigest: in.Head.Baselines[hr.Baseline].Digest})
		}
		a, b := *br, *hr
		a.Baseline, b.Baseline, a.File, b.File = "", "", "", ""
		if !sameJSON(a, b) {
			e.RingsChanged = append(e.RingsChanged, hr.Name)
		}
	}
	baseEx := map[string]*baseline.Exception{}
	for _, x := range in.Base.Exceptions {
		baseEx[x.ID] = x
	}
	for _, x := range in.Head.Exceptions {
		switch old := baseEx[x.ID]; {
		case old == nil:
			e.ExceptionsAdded = append(e.ExceptionsAdded, x.ID)
		case !sameJSON(*old, *x):
			e.ExceptionsChanged = append(e.ExceptionsChanged, x.ID)
		}
		delete(baseEx, x.ID)
	}
	for id := range baseEx {
		e.ExceptionsRemoved = append(e.ExceptionsRemoved, id)
	}
	slices.Sort(e.ExceptionsRemoved)
	e.ConfigChanged = !sameJSON(in.Base.Config, in.Head.Config)
	if in.IncludePlanDelta {
		e.Delta = planDelta(in)
	}
	e.Digest = effectDigest(e)
	return e
}

func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// planDelta computes both plans over the same reports and compares them
// host by host.
func planDelta(in EffectInput) []RingDelta {
	before := Compute(Input{Repo: in.Base, Reports: in.Reports, Now: in.Now}, Options{})
	after := Compute(Input{Repo: in.Head, Reports: in.Reports, Now: in.Now}, Options{})
	prev := make(map[string]int, before.Hosts.Len())
	for i := range before.Hosts.Len() {
		prev[before.Hosts.id(i)] = i
	}
	deltas := map[string]*RingDelta{}
	var order []string
	for _, r := range in.Head.Rings {
		deltas[r.Name] = &RingDelta{Ring: r.Name, PackageChanges: []PackageCount{}, SampleHosts: []string{}}
		order = append(order, r.Name)
	}
	for _, h := range after.Hosts.All() {
		d := deltas[h.Ring]
		if d == nil {
			continue
		}
		d.Hosts++
		var p *Host
		if i, ok := prev[h.ID]; ok {
			ph := before.Hosts.At(i)
			p = &ph
		}
		if h.Status == Compliant {
			d.CompliantAfter++
		}
		if p != nil && p.Status == Compliant {
			d.CompliantBefore++
		}
		var old []Action
		if p != nil {
			old = p.Actions
		}
		newActs := actionsAdded(old, h.Actions)
		// A host changes when it gets new work or its standing changes.
		if p != nil && len(newActs) == 0 && p.Status == h.Status {
			continue
		}
		d.HostsChanged++
		if len(d.SampleHosts) < sampleHosts {
			d.SampleHosts = append(d.SampleHosts, h.ID)
		}
		for _, a := range newActs {
			if a.Kind == Reboot {
				d.RebootsExpected++
				continue
			}
			addCount(&d.PackageChanges, string(a.Kind)+" "+a.Package)
		}
	}
	out := make([]RingDelta, 0, len(order))
	for _, name := range order {
		d := deltas[name]
		slices.SortFunc(d.PackageChanges, func(a, b PackageCount) int {
			return cmp.Or(cmp.Compare(b.Hosts, a.Hosts), cmp.Compare(a.Rule, b.Rule))
		})
		out = append(out, *d)
	}
	return out
}

// actionsAdded returns the actions in after that before does not have with
// the same kind, package and constraints.
func actionsAdded(before, after []Action) []Action {
	key := func(a Action) string {
		return strings.Join([]string{string(a.Kind), a.Package, a.Version, a.Min, a.MinSource, strings.Join(a.Avoid, ",")}, "\x00")
	}
	have := map[string]bool{}
	for _, a := range before {
		have[key(a)] = true
	}
	var out []Action
	for _, a := range after {
		if !have[key(a)] {
			out = append(out, a)
		}
	}
	return out
}

func addCount(list *[]PackageCount, rule string) {
	for i := range *list {
		if (*list)[i].Rule == rule {
			(*list)[i].Hosts++
			return
		}
	}
	*list = append(*list, PackageCount{Rule: rule, Hosts: 1})
}

// effectDigest is "sha256:" + SHA-256 of the canonical JSON of the effect
// with an empty digest.
// effectDigest hashes what the change does to the patch repository: the
// two commits and the model differences. The plan delta is left out — it
// depends on the reports and the clock at hand (--inventory, --now), not on
// the change, and approvals must not expire because a host reported.
func effectDigest(e *Effect) string {
	c := *e
	c.Digest = ""
	c.Delta = nil
	raw, err := json.Marshal(c)
	if err != nil {
		return ""
	}
	canon, err := baseline.CanonicalJSON(raw)
	if err != nil {
		return ""
	}
	return baseline.Digest(canon)
}
