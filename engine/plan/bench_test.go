package plan

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/fleet"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/inventory"
)

// fleetSeeds loads the quickstart repository and one seed report per
// stream, and the generator's options for hosts, sets and packages.
func fleetSeeds(b *testing.B, hosts, sets, packages int) (*baseline.Repository, []*inventory.Report, fleet.Options) {
	b.Helper()
	repo, err := baseline.LoadDir(context.Background(), fixture.Path(b, "examples/quickstart"), baseline.Options{Now: now})
	if err != nil {
		b.Fatal(err)
	}
	var seeds []*inventory.Report
	for _, id := range []string{"deb12-canary-01", "ubuntu-canary-01", "rhel9-canary-01", "alpine-canary-01"} {
		if err := inventory.ReadPath(context.Background(), fixture.Path(b, "examples/quickstart/inventory/"+id+".json"), nil, func(r *inventory.Report) error {
			seeds = append(seeds, r)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	opts := fleet.DefaultOptions(hosts, sets, now)
	opts.Packages = packages
	return repo, seeds, opts
}

func genFleet(b *testing.B, hosts, sets, packages int) (*baseline.Repository, []*inventory.Report) {
	b.Helper()
	repo, seeds, opts := fleetSeeds(b, hosts, sets, packages)
	reports, err := fleet.Generate(repo, seeds, opts)
	if err != nil {
		b.Fatal(err)
	}
	return repo, reports
}

// BenchmarkCompute measures the full plan in memory; "heap-MiB" is the live
// heap after the plan is built (reports + plan), the number that bounds peak
// memory.
func BenchmarkCompute(b *testing.B) {
	for _, c := range []struct{ hosts, sets, packages int }{
		{100_000, 1_000, 2_000},
		{10_000, 10_000, 2_000},
	} {
		b.Run(fmt.Sprintf("hosts=%d/sets=%d/packages=%d", c.hosts, c.sets, c.packages), func(b *testing.B) {
			repo, reports := genFleet(b, c.hosts, c.sets, c.packages)
			runtime.GC()
			resetPeakRSS()
			cpu0 := cpuTime()
			b.ResetTimer()
			var p *Plan
			for b.Loop() {
				p = nil
				p = Compute(Input{Repo: repo, Reports: reports, Now: now}, Options{})
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
			b.ReportMetric(float64(p.Stats.Computations), "computations")
			runtime.KeepAlive(p)
			runtime.KeepAlive(reports)
		})
	}
}

// BenchmarkComputeSplit shows where the time goes: matching (set
// evaluations and per-host overlays) versus the roll-ups and findings.
func BenchmarkComputeSplit(b *testing.B) {
	repo, reports := genFleet(b, 100_000, 1_000, 2_000)
	p := Compute(Input{Repo: repo, Reports: reports, Now: now}, Options{})
	b.Run("match+rollup", func(b *testing.B) {
		for b.Loop() {
			Compute(Input{Repo: repo, Reports: reports, Now: now}, Options{})
		}
	})
	b.Run("rollup-only", func(b *testing.B) {
		for b.Loop() {
			p.rollUp(repo, 0)
		}
	})
}

func heapLive() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS resets the kernel's resident-set high-water mark (Linux);
// elsewhere the peak is the process's.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// currentRSS returns VmRSS in bytes, or 0 where /proc is not there.
func currentRSS() uint64 { return procStatus("VmRSS:") }

// peakRSS returns VmHWM in bytes, or 0 where /proc is not there.
func peakRSS() uint64 { return procStatus("VmHWM:") }

// procStatus returns the /proc/self/status field named by key (a size
// in kB) in bytes, or 0 where /proc is not there.
func procStatus(key string) uint64 {
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
