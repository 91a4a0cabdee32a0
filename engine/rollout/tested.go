package rollout

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
	"github.com/patchbay/patchbay/engine/vercmp"
)

// The tested set keeps "tested before live" true. When a ring is verified,
// ring.verified records the exact versions its compliant hosts run of every
// package the baseline's rules govern (testedSet). A rollout of the same
// baseline digest in the next ring is bound to that set when it starts
// (binding): every package action it assigns names an exact version the
// previous ring ran, never the repository's candidate of the day, and a
// package the previous ring ran no version of is not installed at all.

// binding is the tested set a rollout is bound to (detail.Tested).
type binding struct {
	// Ring is the previous ring; Commit the commit of its verified rollout.
	Ring   string                `json:"ring"`
	Commit string                `json:"commit,omitempty"`
	Set    []audit.TestedVersion `json:"set"`
}

// testedSet resolves what the ring's hosts converged to: for every host of
// the ring that is compliant with the rollout's baseline digest, the
// installed version of each package a rule of the baseline looked at.
func testedSet(p *plan.Plan, ring, digest string) []audit.TestedVersion {
	type key struct{ stream, pkg, version string }
	counts := map[key]int{}
	for _, h := range p.Hosts.All() {
		if h.Ring != ring || h.BaselineDigest != digest || h.Status != plan.Compliant {
			continue
		}
		seen := map[key]bool{}
		for _, res := range h.Results {
			for _, o := range res.Installed {
				k := key{h.Stream, o.Package, o.Version}
				if !seen[k] {
					seen[k] = true
					counts[k]++
				}
			}
		}
	}
	out := make([]audit.TestedVersion, 0, len(counts))
	for k, n := range counts {
		out = append(out, audit.TestedVersion{Stream: k.stream, Package: k.pkg, Version: k.version, Hosts: n})
	}
	slices.SortFunc(out, func(a, b audit.TestedVersion) int {
		return cmp.Or(cmp.Compare(a.Stream, b.Stream), cmp.Compare(a.Package, b.Package), cmp.Compare(a.Version, b.Version))
	})
	return out
}

// ringTestedSet computes r's tested set from the hosts' latest reports.
func (c *Controller) ringTestedSet(ctx context.Context, m *baseline.Repository, r store.Rollout) ([]audit.TestedVersion, error) {
	if c.inv == nil {
		return []audit.TestedVersion{}, nil
	}
	reports, err := c.inv.Reports(ctx)
	if err != nil {
		return nil, err
	}
	p := plan.Compute(plan.Input{Repo: m, Reports: reports, Now: c.o.Now().UTC()}, plan.Options{Ring: r.Ring})
	return testedSet(p, r.Ring, r.BaselineDigest), nil
}

// bindingFor finds the tested set of baseline digest in ring prev: the
// ring.verified of its newest verified rollout in the store, else the
// newest such record in the audit trail. ok is false when prev never
// verified the digest (an emergency promotion): nothing binds then.
func (c *Controller) bindingFor(ctx context.Context, prev, digest string) (*binding, bool) {
	var best *audit.RingVerified
	if rs, err := c.st.Rollouts(ctx, prev); err == nil {
		for _, r := range rs {
			if r.State != StateVerified || r.BaselineDigest != digest {
				continue
			}
			evs, err := c.st.RolloutEvents(ctx, r.ID)
			if err != nil {
				continue
			}
			for _, e := range evs {
				if e.Kind != string(audit.KindRingVerified) {
					continue
				}
				var pl eventPayload
				var v audit.RingVerified
				if json.Unmarshal(e.Payload, &pl) != nil || json.Unmarshal(pl.Predicate, &v) != nil {
					continue
				}
				if best == nil || v.VerifiedAt.After(best.VerifiedAt) {
					best = &v
				}
			}
		}
	}
	if best == nil {
		if log, err := audit.Read(ctx, c.repo); err == nil {
			for _, rec := range log.Of(audit.KindRingVerified) {
				p, err := rec.Decode()
				if err != nil {
					continue
				}
				v := p.(*audit.RingVerified)
				if v.Ring == prev && v.BaselineDigest == digest && (best == nil || v.VerifiedAt.After(best.VerifiedAt)) {
					best = v
				}
			}
		}
	}
	if best == nil {
		return nil, false
	}
	set := best.TestedSet
	if set == nil {
		set = []audit.TestedVersion{}
	}
	return &binding{Ring: prev, Commit: best.Commit, Set: set}, true
}

// bind restricts a package action to the tested set: the highest tested
// version of the package on the stream that satisfies the action becomes
// its exact Version; with none, Tested.Versions is empty and the agent
// fails the step without installing. The key and id are recomputed, so a
// bound action is a different step than an unbound one.
func bind(a *api.Action, b *binding, hostID, digest, stream string, eco vercmp.Ecosystem) {
	if a.Kind == api.KindReboot || a.Package == "" {
		return
	}
	var vs []string
	for _, t := range b.Set {
		if t.Stream != stream || t.Package != a.Package {
			continue
		}
		if a.Version != "" && vercmp.Compare(eco, t.Version, a.Version) != 0 {
			continue
		}
		if a.Min != "" && vercmp.Compare(eco, t.Version, a.Min) < 0 {
			continue
		}
		if slices.ContainsFunc(a.Avoid, func(v string) bool { return vercmp.Compare(eco, t.Version, v) == 0 }) {
			continue
		}
		vs = append(vs, t.Version)
	}
	slices.SortFunc(vs, func(x, y string) int { return vercmp.Compare(eco, y, x) })
	if vs == nil {
		vs = []string{}
	}
	a.Tested = &api.Tested{Ring: b.Ring, Versions: vs}
	if len(vs) > 0 {
		a.Version = vs[0]
	}
	a.Key = api.ActionKey(a.Kind, a.Package, a.Version, a.Min, a.MinSource, a.Avoid)
	if len(vs) == 0 {
		a.Key += " tested=none"
	}
	a.ID = api.ActionID(hostID, digest, a.Key)
}
