package fleet

import (
	"context"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/vercmp"
)

var now = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func quickstart(t testing.TB) (*baseline.Repository, []*inventory.Report) {
	repo, err := baseline.LoadDir(context.Background(), fixture.Path(t, "examples/quickstart"), baseline.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var seeds []*inventory.Report
	for _, id := range []string{"deb12-canary-01", "ubuntu-canary-01", "rhel9-canary-01", "alpine-canary-01"} {
		if err := inventory.ReadPath(context.Background(), fixture.Path(t, "examples/quickstart/inventory/"+id+".json"), nil, func(r *inventory.Report) error {
			seeds = append(seeds, r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return repo, seeds
}

func TestGenerate(t *testing.T) {
	repo, seeds := quickstart(t)
	opts := DefaultOptions(2000, 50, now)
	opts.Packages = 1000
	a, err := Generate(repo, seeds, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 2000 {
		t.Fatalf("%d hosts", len(a))
	}
	sets := map[string]bool{}
	ids := map[string]bool{}
	streams := map[string]int{}
	for _, r := range a {
		sets[r.Packages.Hash()] = true
		ids[r.HostID] = true
		streams[r.Stream]++
		if err := r.Validate(); err != nil {
			t.Fatalf("%s does not validate: %v", r.HostID, err)
		}
		if r.Packages.Len() < 1000 {
			t.Fatalf("%s has %d packages, want ≥ 1000", r.HostID, r.Packages.Len())
		}
	}
	if len(sets) != 50 || len(ids) != 2000 {
		t.Errorf("%d distinct sets, %d distinct ids", len(sets), len(ids))
	}
	if len(streams) != 4 {
		t.Errorf("streams = %v", streams)
	}
	b, err := Generate(repo, seeds, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i].HostID != b[i].HostID || a[i].Packages.Hash() != b[i].Packages.Hash() || a[i].RebootRequired != b[i].RebootRequired {
			t.Fatalf("generation is not deterministic at host %d", i)
		}
	}
}

func TestBelowAbove(t *testing.T) {
	for _, tt := range []struct {
		eco vercmp.Ecosystem
		v   string
	}{
		{vercmp.Deb, "3.0.19-1~deb12u2"}, {vercmp.Deb, "1:2.39.5-0+deb12u2"},
		{vercmp.RPM, "1:3.0.7-18.el9_2"}, {vercmp.RPM, "8.7p1-38.el9_4.1"},
		{vercmp.APK, "1.2.5-r1"}, {vercmp.APK, "9.7_p1-r4"},
	} {
		lo, hi := below(tt.eco, tt.v), above(tt.eco, tt.v)
		for _, v := range []string{lo, hi} {
			if err := vercmp.Validate(tt.eco, v); err != nil {
				t.Errorf("%s: %q invalid: %v", tt.eco, v, err)
			}
		}
		if vercmp.Compare(tt.eco, lo, tt.v) != -1 || vercmp.Compare(tt.eco, hi, tt.v) != 1 {
			t.Errorf("%s %s: below %s above %s do not order around it", tt.eco, tt.v, lo, hi)
		}
	}
}
