package plan

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/fleet"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/inventory"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenFleet generates the quickstart fleet the golden test plans.
func goldenFleet(t testing.TB, hosts, sets, packages int) (*baseline.Repository, []*inventory.Report) {
	t.Helper()
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
	opts := fleet.DefaultOptions(hosts, sets, now)
	opts.Packages = packages
	// Some exceptions of the quickstart cover hosts by ring; a reboot
	// fraction this high makes the per-host overlay do real work.
	opts.RebootFraction = 0.2
	reports, err := fleet.Generate(repo, seeds, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Exceptions that cover generated hosts: a whole ring and stream, and a
	// host list, so the overlay's exception path is part of the golden plan.
	var listed []string
	for i, r := range reports {
		if r.Stream == "debian-12" && i%3 == 0 {
			listed = append(listed, r.HostID)
		}
	}
	repo.Exceptions = append(repo.Exceptions,
		&baseline.Exception{ID: "golden-ring", Ring: "prod", Stream: "alpine-3.20", Source: "musl", Expires: "2027-02-15"},
		&baseline.Exception{ID: "golden-hosts", Hosts: listed, Stream: "debian-12", Source: "util-linux", Expires: "2027-02-15"},
		&baseline.Exception{ID: "golden-expired", Stream: "debian-12", Source: "openssl", Expires: "2026-01-01"},
	)
	return repo, reports
}

// TestGoldenFleet proves that the plan of a generated 10,000-host fleet is
// byte for byte the JSON it was before the plan's internals changed: the
// SHA-256 of the whole plan is kept in testdata/fleet-10000.sha256, and the
// complete JSON of a 50-host fleet in testdata/fleet-50.json for a
// readable diff. Refresh both with -update (only when a change of results
// is intended).
func TestGoldenFleet(t *testing.T) {
	for _, c := range []struct {
		name                   string
		hosts, sets, packages  int
		file                   string
		digestOnly, noDedupeEq bool
	}{
		{name: "50", hosts: 50, sets: 20, packages: 100, file: "fleet-50.json", noDedupeEq: true},
		{name: "10000", hosts: 10_000, sets: 500, packages: 600, file: "fleet-10000.sha256", digestOnly: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			repo, reports := goldenFleet(t, c.hosts, c.sets, c.packages)
			got := planJSON(t, Compute(Input{Repo: repo, Reports: reports, Now: now}, Options{}))
			if c.noDedupeEq {
				alone := planJSON(t, Compute(Input{Repo: repo, Reports: reports, Now: now}, Options{NoDedupe: true}))
				if !bytes.Equal(stripStats(got), stripStats(alone)) {
					t.Fatal("the deduplicated plan differs from computing every host alone")
				}
			}
			want := got
			if c.digestOnly {
				sum := sha256.Sum256(got)
				want = []byte(hex.EncodeToString(sum[:]) + "\n")
			}
			path := filepath.Join("testdata", c.file)
			if *update {
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(golden, want) {
				out := filepath.Join(t.TempDir(), "plan.json")
				_ = os.WriteFile(out, got, 0o644)
				t.Fatalf("plan of the %d-host fleet differs from %s (got %d bytes, written to %s)", c.hosts, path, len(got), out)
			}
		})
	}
}

func planJSON(t testing.TB, p *Plan) []byte {
	t.Helper()
	b, err := json.MarshalIndent(p, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stripStats drops the stats block, which counts computations and so differs
// with NoDedupe by design.
func stripStats(b []byte) []byte {
	i := strings.LastIndex(string(b), "\"stats\"")
	if i < 0 {
		return b
	}
	return b[:i]
}

// TestRingFilterKeepsHosts proves Options.Ring keeps exactly the full
// plan's hosts of that ring, each unchanged (the filtered hosts' slots are
// reused, so nothing of a dropped host may leak into the next).
func TestRingFilterKeepsHosts(t *testing.T) {
	repo, reports := goldenFleet(t, 600, 30, 200)
	for i, r := range reports {
		if i%4 == 0 { // selected by pilot and prod: AMBIGUOUS, with candidates
			r.Labels = map[string]string{"ring": "pilot", "env": "production"}
		}
	}
	full := Compute(Input{Repo: repo, Reports: reports, Now: now}, Options{})
	for _, ring := range []string{"canary", "pilot", "prod"} {
		var want []Host
		for _, h := range full.Hosts.All() {
			if h.Ring == ring {
				want = append(want, h)
			}
		}
		got := Compute(Input{Repo: repo, Reports: reports, Now: now}, Options{Ring: ring}).Hosts
		if ring == "pilot" && !slices.ContainsFunc(full.Hosts.Slice(), func(h Host) bool { return h.Status == Ambiguous }) {
			t.Fatal("no AMBIGUOUS host in the fleet")
		}
		if len(want) == 0 || !bytes.Equal(planJSON(t, &Plan{Hosts: HostsOf(want)}), planJSON(t, &Plan{Hosts: got})) {
			t.Errorf("ring %s: the filtered plan's %d hosts differ from the full plan's %d", ring, got.Len(), len(want))
		}
	}
}
