package plan

import (
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/fleet"
	"github.com/patchbay/patchbay/engine/inventory"
)

var bench1M = flag.Bool("plan1m", false, "run the 1,000,000-host plan benchmarks (about 1 GiB and a minute to generate)")

// genCompactFleet generates a fleet straight into the struct-of-arrays form,
// sorted by host ID.
func genCompactFleet(b *testing.B, hosts, sets, packages int) (*baseline.Repository, *inventory.Fleet) {
	b.Helper()
	repo, seeds, opts := fleetSeeds(b, hosts, sets, packages)
	f, err := fleet.GenerateFleet(repo, seeds, opts)
	if err != nil {
		b.Fatal(err)
	}
	return repo, f
}

// BenchmarkPlanScale plans 10k, 100k and (with -plan1m) 1M hosts of 2,000
// packages over hosts/100 distinct sets, so growth is visible. Besides
// ns/op it reports CPU time per plan (user+system, what a loaded machine
// does not inflate), the peak resident set while planning (fleet included;
// the kernel's high-water mark, reset before the loop), the fleet's live
// heap and the plan's.
func BenchmarkPlanScale(b *testing.B) {
	for _, hosts := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("hosts=%d/sets=%d", hosts, hosts/100), func(b *testing.B) {
			if hosts >= 1_000_000 && !*bench1M {
				b.Skip("1M hosts: run with -plan1m (make bench-plan1m)")
			}
			benchPlan(b, hosts, hosts/100, 2_000)
		})
	}
}

// BenchmarkPlan1M is the headline: 1,000,000 hosts × 2,000
// packages over 10,000 distinct sets. Opt-in by -plan1m.
func BenchmarkPlan1M(b *testing.B) {
	if !*bench1M {
		b.Skip("run with -plan1m (make bench-plan1m)")
	}
	benchPlan(b, 1_000_000, 10_000, 2_000)
}

func benchPlan(b *testing.B, hosts, sets, packages int) {
	repo, f := genCompactFleet(b, hosts, sets, packages)
	// The generator's garbage goes back to the kernel first, so the peak
	// is the process holding the fleet and planning, not the pages the
	// generator left behind (a process that decodes its fleet frees those
	// the same way before it plans only if it asks; the start RSS is
	// reported beside the peak).
	debug.FreeOSMemory()
	fleetHeap := heapLive()
	startRSS := currentRSS()
	resetPeakRSS()
	cpu0 := cpuTime()
	b.ResetTimer()
	var p *Plan
	for b.Loop() {
		p = nil // the previous plan is garbage before the next is built
		p = Compute(Input{Repo: repo, Fleet: f, Now: now}, Options{})
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	peak := peakRSS()
	runtime.GC()
	b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(startRSS)/(1<<20), "start-RSS-MiB")
	b.ReportMetric(float64(fleetHeap)/(1<<20), "fleet-MiB")
	b.ReportMetric(float64(heapLive()-fleetHeap)/(1<<20), "plan-MiB")
	b.ReportMetric(float64(p.Stats.Computations), "computations")
	runtime.KeepAlive(f)
	runtime.KeepAlive(p)
}
