package plan

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/internal/fixture"
)

func TestEffect(t *testing.T) {
	base, reports := loadQuickstart(t)
	load := func() *baseline.Repository {
		r, err := baseline.LoadDir(context.Background(), fixture.Path(t, "examples/quickstart"), baseline.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	t.Run("no change", func(t *testing.T) {
		e := ComputeEffect(EffectInput{Base: base, Head: load(), BaseRev: "a", HeadRev: "a", Now: now})
		if len(e.RingsMoved)+len(e.BaselinesChanged)+len(e.BaselinesAdded)+len(e.RingsChanged) != 0 || e.ConfigChanged {
			t.Errorf("identical repositories differ: %+v", e)
		}
	})

	t.Run("promotion", func(t *testing.T) {
		head := load()
		head.Ring("pilot").Baseline = "2026-11-hotfix-1"
		in := EffectInput{Base: base, Head: head, BaseRev: "b1", HeadRev: "h1", Reports: reports, Now: now, IncludePlanDelta: true}
		e := ComputeEffect(in)
		want := []RingMove{{Ring: "pilot", From: "2026-11", To: "2026-11-hotfix-1",
			FromDigest: base.Baselines["2026-11"].Digest, ToDigest: base.Baselines["2026-11-hotfix-1"].Digest}}
		if diff := cmp.Diff(want, e.RingsMoved); diff != "" {
			t.Errorf("rings moved (-want +got):\n%s", diff)
		}
		if len(e.RingsChanged) != 0 || len(e.ImmutabilityViolations) != 0 {
			t.Errorf("a promotion changes nothing else: %+v", e)
		}
		var pilot RingDelta
		for _, d := range e.Delta {
			if d.Ring == "pilot" {
				pilot = d
			} else if d.HostsChanged != 0 {
				t.Errorf("ring %s changes %d hosts", d.Ring, d.HostsChanged)
			}
		}
		// rhel9-pilot-01 lacks the hotfix's openssh: it is the one host that
		// gets new work.
		if pilot.HostsChanged != 1 || pilot.SampleHosts[0] != "rhel9-pilot-01" || pilot.CompliantAfter != pilot.CompliantBefore-1 {
			t.Errorf("pilot delta = %+v", pilot)
		}
		// The digest binds the exact change: the same inputs give the same
		// digest, another head commit gives another.
		if again := ComputeEffect(in); again.Digest != e.Digest {
			t.Errorf("digest not deterministic: %s vs %s", again.Digest, e.Digest)
		}
		in.HeadRev = "h2"
		if other := ComputeEffect(in); other.Digest == e.Digest {
			t.Errorf("another head gives the same digest")
		}
	})

	t.Run("pinned baseline edited", func(t *testing.T) {
		head := load()
		head.Baselines["2026-10"].Digest = "sha256:edited"
		head.Baselines["2026-12"] = &baseline.Baseline{ID: "2026-12", Digest: "sha256:new"}
		e := ComputeEffect(EffectInput{Base: base, Head: head, Now: now})
		if !cmp.Equal(e.ImmutabilityViolations, []string{"2026-10"}) || len(e.BaselinesChanged) != 1 || e.BaselinesChanged[0].PinnedBy[0] != "prod" {
			t.Errorf("violations = %v, changed = %+v", e.ImmutabilityViolations, e.BaselinesChanged)
		}
		if len(e.BaselinesAdded) != 1 || e.BaselinesAdded[0].ID != "2026-12" {
			t.Errorf("added = %+v", e.BaselinesAdded)
		}
	})

	t.Run("ring definition and config", func(t *testing.T) {
		head := load()
		head.Ring("prod").Strategy.MaxErrors = baseline.Budget{N: 5}
		head.Config.SLA.KEV = 7
		head.Exceptions = nil
		e := ComputeEffect(EffectInput{Base: base, Head: head, Now: now})
		if !cmp.Equal(e.RingsChanged, []string{"prod"}) || !e.ConfigChanged || !cmp.Equal(e.ExceptionsRemoved, []string{"billing-openssl"}) {
			t.Errorf("effect = %+v", e)
		}
	})
}
