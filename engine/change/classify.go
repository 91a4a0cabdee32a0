package change

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/gate"
)

// Classify returns what the change from base to head does, part by part:
// every ring whose pinned baseline moves (promotion), every changed ring
// field judged loosening or tightening (ring_policy), every exception
// added, extended, widened, changed, narrowed or removed, every changed
// config field, every changed baseline, and every changed file by path
// (policy/*.rego, workflow and CI files, and cosmetic changes — a file
// that changed without changing what patchbay reads from it). Every path
// in files is covered by at least one class, so that the policies can
// refuse anything unclassified.
//
// When in doubt a ring change is loosening: a selector change, a new or
// a removed ring, windows or freezes that are not a superset of the old.
func Classify(base, head *baseline.Repository, files []string) []gate.ChangeClass {
	var out []gate.ChangeClass
	out = append(out, classifyRings(base, head)...)
	out = append(out, classifyExceptions(base, head)...)
	out = append(out, classifyConfig(base, head)...)
	out = append(out, classifyBaselines(base, head)...)
	covered := map[string]bool{}
	for _, c := range out {
		covered[c.Path] = true
	}
	for _, f := range files {
		if covered[f] {
			continue
		}
		out = append(out, gate.ChangeClass{Class: fileClass(f), Path: f, Detail: "file changed"})
	}
	slices.SortStableFunc(out, func(a, b gate.ChangeClass) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		if c := strings.Compare(a.Class, b.Class); c != 0 {
			return c
		}
		return strings.Compare(a.Field, b.Field)
	})
	return out
}

// workflowFiles are CI configuration paths: a file equal to one, or under
// one ending in "/".
var workflowFiles = []string{".github/", ".gitlab-ci.yml", ".gitlab/", ".circleci/", ".ci/", ".buildkite/", ".drone.yml",
	".woodpecker/", ".woodpecker.yml", ".gitea/", ".forgejo/", "Jenkinsfile", "azure-pipelines.yml", "bitbucket-pipelines.yml",
	"Makefile", ".pre-commit-config.yaml", "CODEOWNERS", "docs/CODEOWNERS"}

// fileClass classifies a changed file whose change no model field shows.
func fileClass(p string) string {
	switch dir, name := path.Split(p); {
	case dir == "policy/" && strings.HasSuffix(name, ".rego"):
		return gate.ClassRepoPolicy
	}
	for _, w := range workflowFiles {
		if p == w || (strings.HasSuffix(w, "/") && strings.HasPrefix(p, w)) {
			return gate.ClassWorkflow
		}
	}
	return gate.ClassCosmetic
}

func ringFile(r *baseline.Ring) string {
	if r.File != "" {
		return r.File
	}
	return "rings/" + r.Name + ".cue"
}

// classifyRings compares each ring field by field.
func classifyRings(base, head *baseline.Repository) []gate.ChangeClass {
	var out []gate.ChangeClass
	add := func(r *baseline.Ring, field, dir, detail string) {
		out = append(out, gate.ChangeClass{Class: gate.ClassRingPolicy, Path: ringFile(r), Subject: r.Name, Field: field, Direction: dir, Detail: detail})
	}
	for _, hr := range head.Rings {
		br := base.Ring(hr.Name)
		if br == nil {
			add(hr, "ring", "loosening", "ring "+hr.Name+" added")
			continue
		}
		if br.Baseline != hr.Baseline {
			out = append(out, gate.ChangeClass{Class: gate.ClassPromotion, Path: ringFile(hr), Subject: hr.Name, Field: "baseline",
				Detail: fmt.Sprintf("baseline %s → %s", br.Baseline, hr.Baseline)})
		}
		if d, detail := budgetDir("strategy.maxConcurrency", br.Strategy.MaxConcurrency, hr.Strategy.MaxConcurrency); d != "" {
			add(hr, "strategy", d, detail)
		}
		if d, detail := budgetDir("strategy.maxErrors", br.Strategy.MaxErrors, hr.Strategy.MaxErrors); d != "" {
			add(hr, "strategy", d, detail)
		}
		if br.Approvals.Required != hr.Approvals.Required {
			add(hr, "approvals", lowerLoosens(hr.Approvals.Required < br.Approvals.Required),
				fmt.Sprintf("approvals.required %d → %d", br.Approvals.Required, hr.Approvals.Required))
		}
		if !sameSet(br.Approvals.Groups, hr.Approvals.Groups) {
			// another group's members can now approve: loosening; only
			// fewer groups: tightening.
			add(hr, "approvals", lowerLoosens(!subset(hr.Approvals.Groups, br.Approvals.Groups)),
				fmt.Sprintf("approvals.groups [%s] → [%s]", strings.Join(br.Approvals.Groups, ", "), strings.Join(hr.Approvals.Groups, ", ")))
		}
		if !sameJSON(br.Windows, hr.Windows) {
			// no window means any time; fewer windows (a subset) tighten.
			tight := len(hr.Windows) > 0 && (len(br.Windows) == 0 || subsetBy(hr.Windows, br.Windows))
			add(hr, "windows", lowerLoosens(!tight), fmt.Sprintf("windows: %d → %d", len(br.Windows), len(hr.Windows)))
		}
		if !sameJSON(br.Freeze, hr.Freeze) {
			add(hr, "freeze", lowerLoosens(!subsetBy(br.Freeze, hr.Freeze)), fmt.Sprintf("freeze: %d → %d ranges", len(br.Freeze), len(hr.Freeze)))
		}
		if br.Soak != hr.Soak {
			add(hr, "soak", lowerLoosens(hr.Soak < br.Soak), fmt.Sprintf("soak %s → %s", br.Soak, hr.Soak))
		}
		if br.SuccessThreshold != hr.SuccessThreshold {
			add(hr, "threshold", lowerLoosens(hr.SuccessThreshold < br.SuccessThreshold),
				fmt.Sprintf("successThreshold %v → %v", br.SuccessThreshold, hr.SuccessThreshold))
		}
		if br.MinHosts != hr.MinHosts {
			add(hr, "min_hosts", lowerLoosens(hr.MinHosts < br.MinHosts), fmt.Sprintf("minHosts %d → %d", br.MinHosts, hr.MinHosts))
		}
		if br.Reboot != hr.Reboot {
			// never < if-required < always: rebooting less leaves fixes
			// not in effect.
			rank := map[string]int{"never": 0, "if-required": 1, "always": 2}
			add(hr, "reboot", lowerLoosens(rank[hr.Reboot] < rank[br.Reboot]), fmt.Sprintf("reboot %s → %s", br.Reboot, hr.Reboot))
		}
		if !sameJSON(br.Selector, hr.Selector) {
			// which hosts a ring holds cannot be judged without the fleet:
			// a selector matching no host makes a rollout prove nothing.
			add(hr, "selector", "loosening", "selector changed")
		}
	}
	for _, br := range base.Rings {
		if head.Ring(br.Name) == nil {
			add(br, "ring", "loosening", "ring "+br.Name+" removed")
		}
	}
	return out
}

func lowerLoosens(loosening bool) string {
	if loosening {
		return "loosening"
	}
	return "tightening"
}

// budgetDir judges a budget change: more hosts at once or more errors
// before a halt loosen. A count against a percentage cannot be compared
// without the ring's size and counts as loosening.
func budgetDir(name string, a, b baseline.Budget) (string, string) {
	if a == b {
		return "", ""
	}
	detail := fmt.Sprintf("%s %s → %s", name, a, b)
	if a.Percent != b.Percent {
		return "loosening", detail
	}
	return lowerLoosens(b.N > a.N), detail
}

func sameSet(a, b []string) bool { return subset(a, b) && subset(b, a) }

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// subsetBy reports whether every element of a has an equal (by JSON) one
// in b.
func subsetBy[T any](a, b []T) bool {
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y T) bool { return sameJSON(x, y) }) {
			return false
		}
	}
	return true
}

func exceptionFile(x *baseline.Exception) string {
	if x.File != "" {
		return x.File
	}
	return "exceptions/" + x.ID + ".cue"
}

// classifyExceptions judges each exception: added, removed, or for a
// changed one the widest of widened (more hosts, another rule or stream,
// a whole ring instead of hosts), extended (a later expiry or an earlier
// grant), changed (owner, reason, control) and narrowed.
func classifyExceptions(base, head *baseline.Repository) []gate.ChangeClass {
	var out []gate.ChangeClass
	baseEx := map[string]*baseline.Exception{}
	for _, x := range base.Exceptions {
		baseEx[x.ID] = x
	}
	add := func(x *baseline.Exception, dir, detail string) {
		out = append(out, gate.ChangeClass{Class: gate.ClassException, Path: exceptionFile(x), Subject: x.ID, Direction: dir, Owner: x.Owner, Detail: detail})
	}
	for _, x := range head.Exceptions {
		old := baseEx[x.ID]
		delete(baseEx, x.ID)
		switch {
		case old == nil:
			add(x, "added", fmt.Sprintf("exception %s added (%s to %s)", x.ID, x.Granted, x.Expires))
			continue
		case sameJSON(*old, *x):
			continue
		}
		var dirs []string
		if x.Stream != old.Stream || x.Package != old.Package || x.Source != old.Source || x.Ring != old.Ring ||
			(len(old.Hosts) > 0 && len(x.Hosts) == 0) || !subset(x.Hosts, old.Hosts) {
			dirs = append(dirs, "widened")
		}
		if x.Expires > old.Expires || x.Granted < old.Granted {
			dirs = append(dirs, "extended")
		}
		if x.Owner != old.Owner || x.Reason != old.Reason || x.CompensatingControl != old.CompensatingControl || !sameSet(x.ApprovedBy, old.ApprovedBy) {
			dirs = append(dirs, "changed")
		}
		if len(dirs) == 0 {
			dirs = append(dirs, "narrowed")
		}
		for _, d := range dirs {
			add(x, d, fmt.Sprintf("exception %s %s (%s to %s → %s to %s)", x.ID, d, old.Granted, old.Expires, x.Granted, x.Expires))
		}
	}
	for _, id := range sortedKeys(baseEx) {
		add(baseEx[id], "removed", "exception "+id+" removed")
	}
	return out
}

// classifyConfig names each changed field of patchbay.cue's config.
func classifyConfig(base, head *baseline.Repository) []gate.ChangeClass {
	a, b := base.Config, head.Config
	var out []gate.ChangeClass
	add := func(field string, same bool) {
		if !same {
			out = append(out, gate.ChangeClass{Class: gate.ClassConfig, Path: "patchbay.cue", Subject: "config", Field: field, Detail: "config " + field + " changed"})
		}
	}
	add("approvers", sameJSON(a.Approvers, b.Approvers) && a.PolicyOwners == b.PolicyOwners && a.Security == b.Security)
	add("trusted_keys", sameJSON(a.TrustedKeys, b.TrustedKeys))
	add("sla", a.SLA == b.SLA)
	add("streams", sameJSON(a.Streams, b.Streams))
	add("rings", slices.Equal(a.Rings, b.Rings))
	add("exceptions", a.Exceptions == b.Exceptions)
	add("reports", a.Reports == b.Reports)
	add("main_branch", a.MainBranch == b.MainBranch)
	if len(out) == 0 && !sameJSON(a, b) {
		add("other", false) // a field added to Config later
	}
	return out
}

// classifyBaselines reports baselines added, changed or removed.
func classifyBaselines(base, head *baseline.Repository) []gate.ChangeClass {
	var out []gate.ChangeClass
	file := func(b *baseline.Baseline) string {
		if b.File != "" {
			return b.File
		}
		return "baselines/" + b.ID + ".cue"
	}
	for _, id := range head.BaselineIDs() {
		hb, bb := head.Baselines[id], base.Baselines[id]
		switch {
		case bb == nil:
			out = append(out, gate.ChangeClass{Class: gate.ClassBaseline, Path: file(hb), Subject: id, Direction: "added", Detail: "baseline " + id + " added"})
		case bb.Digest != hb.Digest:
			out = append(out, gate.ChangeClass{Class: gate.ClassBaseline, Path: file(hb), Subject: id, Direction: "changed", Detail: "baseline " + id + " changed"})
		}
	}
	for _, id := range base.BaselineIDs() {
		if head.Baselines[id] == nil {
			out = append(out, gate.ChangeClass{Class: gate.ClassBaseline, Path: file(base.Baselines[id]), Subject: id, Direction: "removed", Detail: "baseline " + id + " removed"})
		}
	}
	return out
}
