package advisory_test

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/patchbay/patchbay/engine/advisory"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/vercmp"
)

func TestRankExplainedAndReproducible(t *testing.T) {
	db := realDB(t)
	prod := realHost(t, "deb-prod", "debian-12", "inventories/dpkg/debian12-bookworm.status", vercmp.Deb, map[string]string{"libc6": "2.36-9+deb12u3", "libc-bin": "2.36-9+deb12u3"})
	prod.Labels = map[string]string{"env": "production"}
	canary := realHost(t, "deb-canary", "debian-12", "inventories/dpkg/debian12-bookworm.status", vercmp.Deb, nil)
	canary.Labels = map[string]string{"ring": "canary"}
	repo := quickstart(t)
	hosts := []*inventory.Report{prod, canary}
	ix := advisory.NewIndex(db, []string{"debian-12"}, nil)
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	rank := func() []advisory.Exposure {
		return advisory.Rank(advisory.Match(ix, hosts, advisory.MatchOptions{Repo: repo}), db, advisory.RankOptions{Repo: repo, Now: now})
	}
	got := rank()
	if len(got) == 0 {
		t.Fatal("nothing ranked")
	}
	if d := cmp.Diff(got, rank(), cmpopts.IgnoreFields(advisory.Exposure{}, "Advisory")); d != "" {
		t.Fatalf("ranking is not reproducible:\n%s", d)
	}
	seenNonKEV := false
	for _, e := range got {
		sum := 0.0
		for _, in := range e.Risk.Inputs {
			sum += in.Points
		}
		if math.Abs(sum-e.Risk.Score) > 0.011 {
			t.Errorf("%s: score %v is not the sum of its inputs %v", e.ID, e.Risk.Score, e.Risk.Inputs)
		}
		if !e.Risk.KEV {
			seenNonKEV = true
		} else if seenNonKEV {
			t.Errorf("%s: KEV advisory ranked after a non-KEV one", e.ID)
		}
	}
	// CVE-2023-4911 (glibc "Looney Tunables") is in KEV: it comes first, and
	// its exposure counts the prod host in the prod ring.
	if got[0].ID != "CVE-2023-4911" || !got[0].Risk.KEV || got[0].ByRing["prod"] != 1 || got[0].ByRing["canary"] != 1 {
		t.Errorf("first: %+v", got[0])
	}
}
