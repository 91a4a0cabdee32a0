package agent

import (
	"fmt"
	"slices"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/vercmp"
)

// Satisfied reports whether the report r satisfies action a, with the
// evidence: a reboot is satisfied when no reboot is required; a package
// action when some installed package of that name is at Version (exact),
// at or above Min (binary) and MinSource (its source version), and not at
// an Avoid version, and — for an action bound to a tested set — at one of
// the tested versions.
func Satisfied(r *inventory.Report, a api.Action) (bool, string) {
	if a.Kind == api.KindReboot {
		if r.RebootRequired {
			return false, "reboot still required"
		}
		return true, "no reboot required"
	}
	eco := r.Ecosystem
	pkgs := r.Packages.Find(a.Package)
	if len(pkgs) == 0 {
		return false, fmt.Sprintf("%s not installed", a.Package)
	}
	var why string
	for _, p := range pkgs {
		ok, w := satisfiedBy(eco, p, a)
		if ok && a.Tested != nil && !slices.ContainsFunc(a.Tested.Versions, func(v string) bool { return vercmp.Compare(eco, p.Version, v) == 0 }) {
			ok, w = false, fmt.Sprintf("%s is %s: %s (ring %s ran %s)", p.Name, p.Version, api.NotTested, a.Tested.Ring, orNone(a.Tested.Versions))
		}
		if ok {
			return true, w
		}
		why = w
	}
	return false, why
}

func satisfiedBy(eco vercmp.Ecosystem, p inventory.Package, a api.Action) (bool, string) {
	if a.Version != "" && vercmp.Compare(eco, p.Version, a.Version) != 0 {
		return false, fmt.Sprintf("%s is %s, want %s", p.Name, p.Version, a.Version)
	}
	if a.Min != "" && vercmp.Compare(eco, p.Version, a.Min) < 0 {
		return false, fmt.Sprintf("%s is %s < %s", p.Name, p.Version, a.Min)
	}
	if a.MinSource != "" && vercmp.Compare(eco, p.SourceVersion, a.MinSource) < 0 {
		return false, fmt.Sprintf("%s source %s is %s < %s", p.Name, p.SourceName, p.SourceVersion, a.MinSource)
	}
	if slices.ContainsFunc(a.Avoid, func(v string) bool { return vercmp.Compare(eco, p.Version, v) == 0 }) {
		return false, fmt.Sprintf("%s is %s, a blocked version", p.Name, p.Version)
	}
	return true, fmt.Sprintf("%s is %s (source %s)", p.Name, p.Version, p.SourceVersion)
}
