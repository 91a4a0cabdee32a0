package vercmp

import (
	"testing"
	"time"
)

// benchPairs loads the real-version pairs of an oracle file.
func benchPairs(b *testing.B, file string) [][2]string {
	rows := readTSV(b, file, false)
	ps := make([][2]string, len(rows))
	for i, r := range rows {
		ps[i] = [2]string{r[0], r[1]}
	}
	return ps
}

// BenchmarkCompare runs Compare and the knqyf263 library of each
// ecosystem on the same pairs of real versions, one pair per op. The
// libraries are called the way their users call them: parse both versions,
// then compare.
func BenchmarkCompare(b *testing.B) {
	for _, bc := range []struct {
		eco  Ecosystem
		file string
		lib  func(a, b string) (int, bool)
	}{
		{Deb, "dpkg-version/dpkg-oracle.bookworm-Packages.2000pairs.tsv", libDeb},
		{RPM, "rpm-version/rpm-oracle.go-rpmdb-evr.1000pairs.tsv", libRPM},
		{APK, "apk-version/apk-oracle.secdb-versions.1000pairs.tsv", libAPK},
	} {
		ps := benchPairs(b, bc.file)
		b.Run(string(bc.eco)+"/vercmp", func(b *testing.B) {
			b.ReportAllocs()
			sum, i := 0, 0
			for b.Loop() {
				p := &ps[i]
				sum += Compare(bc.eco, p[0], p[1])
				if i++; i == len(ps) {
					i = 0
				}
			}
			_ = sum
		})
		b.Run(string(bc.eco)+"/knqyf263", func(b *testing.B) {
			b.ReportAllocs()
			sum, i := 0, 0
			for b.Loop() {
				p := &ps[i]
				r, _ := bc.lib(p[0], p[1])
				sum += r
				if i++; i == len(ps) {
					i = 0
				}
			}
			_ = sum
		})
	}
}

// BenchmarkValidate measures Validate on the same real versions.
func BenchmarkValidate(b *testing.B) {
	for _, bc := range []struct {
		eco  Ecosystem
		file string
	}{
		{Deb, "dpkg-version/dpkg-oracle.bookworm-Packages.2000pairs.tsv"},
		{RPM, "rpm-version/rpm-oracle.go-rpmdb-evr.1000pairs.tsv"},
		{APK, "apk-version/apk-oracle.secdb-versions.1000pairs.tsv"},
	} {
		ps := benchPairs(b, bc.file)
		b.Run(string(bc.eco), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				_ = Validate(bc.eco, ps[i%len(ps)][0])
			}
		})
	}
}

// TestCompareAllocs pins the allocation-free promise: Compare allocates
// nothing, valid or invalid input.
func TestCompareAllocs(t *testing.T) {
	pairs := [][2]string{
		{"1:2.30-1+deb12u1", "1:2.30-1"}, {"a:b-c", "~~-"}, {"2.26-63.amzn2", "1:2.26-63.amzn2.0.1"},
		{"1.0^git1~rc1", "1.0"}, {"1.2.3_rc1~abcdef-r3", "1.2.3_p1-r3"}, {"1.0bc", "23_foo"},
	}
	for _, eco := range Ecosystems() {
		allocs := testing.AllocsPerRun(100, func() {
			for _, p := range pairs {
				Compare(eco, p[0], p[1])
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Compare allocates %.1f times per run", eco, allocs)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { CompareAPKFuzzy("3.6.9", "3.6") }); allocs != 0 {
		t.Errorf("CompareAPKFuzzy allocates %.1f times per run", allocs)
	}
}

// BenchmarkSpeedup runs Compare and the knqyf263 library alternately over
// the same pairs of real versions, a whole file per op, and reports each
// side's process CPU time per pair (the garbage collection the library
// causes included; other processes on a busy machine excluded) and the
// ratio, x-faster, plus the same ratio in wall-clock time (x-faster-wall),
// which a loaded machine makes noisy. This is the number the performance
// target is stated in.
// Rounds are long (many passes over the file) so that getrusage's clock
// granularity does not matter.
func BenchmarkSpeedup(b *testing.B) {
	for _, bc := range []struct {
		eco  Ecosystem
		file string
		lib  func(a, b string) (int, bool)
	}{
		{Deb, "dpkg-version/dpkg-oracle.bookworm-Packages.2000pairs.tsv", libDeb},
		{RPM, "rpm-version/rpm-oracle.go-rpmdb-evr.1000pairs.tsv", libRPM},
		{APK, "apk-version/apk-oracle.secdb-versions.1000pairs.tsv", libAPK},
	} {
		ps := benchPairs(b, bc.file)
		b.Run(string(bc.eco), func(b *testing.B) {
			const oursPasses, theirPasses = 200, 5
			var ours, theirs, oursWall, theirWall time.Duration
			sum := 0
			for b.Loop() {
				start, wall := cpuTime(), time.Now()
				for range oursPasses {
					for k := range ps {
						sum += Compare(bc.eco, ps[k][0], ps[k][1])
					}
				}
				mid, midWall := cpuTime(), time.Now()
				for range theirPasses {
					for k := range ps {
						r, _ := bc.lib(ps[k][0], ps[k][1])
						sum += r
					}
				}
				ours += mid - start
				theirs += cpuTime() - mid
				oursWall += midWall.Sub(wall)
				theirWall += time.Since(midWall)
			}
			_ = sum
			n := float64(b.N) * float64(len(ps))
			oursPer := float64(ours.Nanoseconds()) / (n * oursPasses)
			theirPer := float64(theirs.Nanoseconds()) / (n * theirPasses)
			b.ReportMetric(oursPer, "vercmp-cpu-ns/pair")
			b.ReportMetric(theirPer, "knqyf263-cpu-ns/pair")
			b.ReportMetric(theirPer/oursPer, "x-faster")
			b.ReportMetric((float64(theirWall)/theirPasses)/(float64(oursWall)/oursPasses), "x-faster-wall")
		})
	}
}
