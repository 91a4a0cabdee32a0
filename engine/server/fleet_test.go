package server_test

import (
	"context"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/fleet"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/server"
	"github.com/patchbay/patchbay/engine/store"
)

// fleetEnv names a SQLite file (or a postgres:// URL) to fill with a
// fleet-sized data set: 100,000 enrolled hosts over 1,000 distinct package
// sets (engine/fleet, derived from the real quickstart reports), each with
// one report, plus an admin token "fleet-admin-token" and host tokens
// "tok-<host id>". The test then times the fleet plan at that size. It
// takes minutes, so it is off by default; `patchbay serve --db` on the
// filled database gives the server's RSS at fleet size (see the notes).
const fleetEnv = "PATCHBAY_SERVER_FLEET"

func TestFleetScale(t *testing.T) {
	target := os.Getenv(fleetEnv)
	if target == "" {
		t.Skipf("%s not set; skipping the 100k-host measurement", fleetEnv)
	}
	if !strings.Contains(target, "://") {
		target = "sqlite://" + target
	}
	ctx := context.Background()
	st, err := store.Open(ctx, target, store.Options{Now: clock, SQLiteSynchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	repo, err := baseline.LoadDir(ctx, fixture.Path(t, "examples/quickstart"), baseline.Options{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	reps, _ := quickstart(t)
	var seeds []*inventory.Report
	for _, id := range []string{"deb12-canary-01", "ubuntu-canary-01", "rhel9-canary-01", "alpine-canary-01"} {
		seeds = append(seeds, reps[id])
	}
	const hosts, sets = 100_000, 1_000
	start := time.Now()
	opts := fleet.DefaultOptions(hosts, sets, testNow)
	opts.Packages = 2000
	fl, err := fleet.Generate(repo, seeds, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generated %d reports in %v", len(fl), time.Since(start).Round(time.Millisecond))
	start = time.Now()
	const enrollTok = "fleet-enroll-token"
	if err := st.CreateEnrollmentToken(ctx, enrollTok, testNow.Add(24*time.Hour), hosts); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAdminToken(ctx, "fleet", "fleet-admin-token"); err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan *inventory.Report)
	for range 32 {
		wg.Go(func() {
			for r := range work {
				if _, err := st.EnrollHost(ctx, enrollTok, store.NewHost{ID: r.HostID, Labels: r.Labels, Stream: r.Stream}, "tok-"+r.HostID); err != nil {
					t.Error(err)
					return
				}
				rec := store.ReportRecord{HostID: r.HostID, ReceivedAt: testNow, CollectedAt: r.CollectedAt, Stream: r.Stream,
					Hostname: r.Hostname, Arch: r.Arch, Kernel: r.Kernel, Labels: r.Labels, RebootRequired: r.RebootRequired,
					PackageSetHash: r.Packages.Hash()}
				mu.Lock()
				if !stored[rec.PackageSetHash] {
					stored[rec.PackageSetHash] = true
					rec.PackageSet = server.EncodeSetForTest(r.Packages)
				}
				mu.Unlock()
				if _, err := st.SaveReport(ctx, rec); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for _, r := range fl {
		work <- r
	}
	close(work)
	wg.Wait()
	t.Logf("enrolled and reported %d hosts (%d sets) in %v", hosts, len(stored), time.Since(start).Round(time.Millisecond))
	fl = nil
	runtime.GC()

	rl := server.NewReloader(server.DirSource{Dir: fixture.Path(t, "examples/quickstart")}, nil, clock)
	if err := rl.Check(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Models: rl, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for i := range 2 {
		start = time.Now()
		p, err := srv.FleetPlan(ctx, plan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("fleet plan %d: %d hosts, %d computations in %v (sets cold: %v)", i+1, p.Stats.Hosts, p.Stats.Computations,
			time.Since(start).Round(time.Millisecond), i == 0)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("Go heap in use after the fleet plan: %.1f MB", float64(ms.HeapInuse)/1e6)
}
