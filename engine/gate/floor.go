package gate

import (
	"sort"

	"github.com/patchbay/patchbay/engine/vercmp"
)

// CompareFunc orders two versions of a stream: -1, 0 or 1 as a orders
// before, the same as or after b.
type CompareFunc func(stream, a, b string) int

// VercmpFunc returns a CompareFunc that orders versions with engine/vercmp
// by the ecosystem of each stream. A stream missing from ecosystems is
// compared with an empty ecosystem, which vercmp rejects as unknown.
func VercmpFunc(ecosystems map[string]vercmp.Ecosystem) CompareFunc {
	return func(stream, a, b string) int { return vercmp.Compare(ecosystems[stream], a, b) }
}

// RuleFloor is what FloorChanges needs of one baseline rule.
type RuleFloor struct {
	Stream string
	// Kind is "package" or "source".
	Kind                 string
	Name                 string
	Min                  string
	Pin                  string
	AllowDowngradeReason string
}

// FloorChanges compares every rule with a min in a ring's old baseline with
// the same rule (stream, kind, name) in the new baseline, using cmp, and
// returns one Floor per such rule, sorted by stream, kind and name. The new
// floor is the new rule's min, else its pin; a rule without either (or
// missing) gives an empty NewMin and Cmp -1: a removed floor is a lowered
// one.
func FloorChanges(oldRules, newRules []RuleFloor, cmp CompareFunc) []Floor {
	type key struct{ stream, kind, name string }
	next := make(map[key]RuleFloor, len(newRules))
	for _, r := range newRules {
		next[key{r.Stream, r.Kind, r.Name}] = r
	}
	floors := []Floor{}
	for _, o := range oldRules {
		if o.Min == "" {
			continue
		}
		n := next[key{o.Stream, o.Kind, o.Name}]
		f := Floor{Stream: o.Stream, Kind: o.Kind, Name: o.Name, OldMin: o.Min, NewMin: n.Min, Cmp: -1, AllowDowngradeReason: n.AllowDowngradeReason}
		if f.NewMin == "" {
			f.NewMin = n.Pin
		}
		if f.NewMin != "" {
			f.Cmp = cmp(o.Stream, f.NewMin, o.Min)
		}
		floors = append(floors, f)
	}
	sort.Slice(floors, func(i, j int) bool {
		a, b := floors[i], floors[j]
		if a.Stream != b.Stream {
			return a.Stream < b.Stream
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Name < b.Name
	})
	return floors
}
