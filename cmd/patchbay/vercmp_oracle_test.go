package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/vercmp"
)

// sharedFile returns the path of rel in the shared reference data beside
// the checkout (../shared/testdata), skipping the test when it is absent.
func sharedFile(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "testdata", filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared test data %s not found", rel)
	}
	return p
}

// runVercmpBatch feeds pairs to `patchbay vercmp -e eco` in batch mode,
// in-process, and returns its verdict per pair.
func runVercmpBatch(t *testing.T, eco string, pairs [][2]string) []string {
	t.Helper()
	var in strings.Builder
	for _, p := range pairs {
		in.WriteString(p[0] + "\t" + p[1] + "\n")
	}
	var out, errOut bytes.Buffer
	a := &app{stdin: strings.NewReader(in.String()), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }, now: time.Now}
	if code := a.run(context.Background(), []string{"vercmp", "--ecosystem", eco}); code != 0 {
		t.Fatalf("patchbay vercmp -e %s: exit %d: %s", eco, code, errOut.String())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(pairs) {
		t.Fatalf("%d output lines for %d pairs", len(lines), len(pairs))
	}
	verdicts := make([]string, len(lines))
	for i, l := range lines {
		f := strings.Split(l, "\t")
		if len(f) != 3 || f[0] != pairs[i][0] || f[1] != pairs[i][1] {
			t.Fatalf("line %d: %q does not answer %q", i+1, l, pairs[i])
		}
		verdicts[i] = f[2]
	}
	return verdicts
}

// aptVersions reads package name → versions from APT's Packages lists
// (decompressed with apt-helper), skipping the test when there are none.
func aptVersions(t *testing.T) map[string][]string {
	t.Helper()
	lists, _ := filepath.Glob("/var/lib/apt/lists/*_Packages*")
	helper, err := exec.LookPath("/usr/lib/apt/apt-helper")
	if len(lists) == 0 || err != nil {
		t.Skip("no APT Packages lists (run apt-get update) or no apt-helper")
	}
	byPkg := map[string][]string{}
	for _, l := range lists {
		out, err := exec.Command(helper, "cat-file", l).Output()
		if err != nil {
			t.Fatalf("apt-helper cat-file %s: %v", l, err)
		}
		pkg := ""
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if name, ok := strings.CutPrefix(line, "Package: "); ok {
				pkg = name
			} else if v, ok := strings.CutPrefix(line, "Version: "); ok && !slices.Contains(byPkg[pkg], v) {
				byPkg[pkg] = append(byPkg[pkg], v)
			}
		}
	}
	if len(byPkg) == 0 {
		t.Skip("APT lists hold no packages")
	}
	return byPkg
}

// samplePairs draws n pairs from versions, deterministically: neighbours
// in sorted order, versions of one package, random pairs, and the same
// version with and without an explicit zero epoch.
func samplePairs(byPkg map[string][]string, n int, epochSpelling func(string) string) [][2]string {
	rng := rand.New(rand.NewPCG(2026, 11))
	var all []string
	var multi []string
	for pkg, vs := range byPkg {
		all = append(all, vs...)
		if len(vs) > 1 {
			multi = append(multi, pkg)
		}
	}
	slices.Sort(all)
	all = slices.Compact(all)
	slices.Sort(multi)
	seen := map[[2]string]bool{}
	var pairs [][2]string
	add := func(a, b string) {
		if p := [2]string{a, b}; !seen[p] {
			seen[p] = true
			pairs = append(pairs, p)
		}
	}
	for step := 0; len(pairs) < n && step < 20*n; step++ {
		switch step % 4 {
		case 0:
			i := rng.IntN(len(all) - 1)
			add(all[i], all[i+1])
		case 1:
			if len(multi) > 0 {
				vs := byPkg[multi[rng.IntN(len(multi))]]
				add(vs[rng.IntN(len(vs))], vs[rng.IntN(len(vs))])
				break
			}
			fallthrough
		case 2:
			add(all[rng.IntN(len(all))], all[rng.IntN(len(all))])
		case 3:
			v := all[rng.IntN(len(all))]
			if w := epochSpelling(v); w != "" {
				add(v, w)
			} else {
				add(all[rng.IntN(len(all))], v)
			}
		}
	}
	return pairs
}

// parallel runs f over 0..n-1 on two workers.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// TestVercmpOracleDpkg checks `patchbay vercmp -e deb` against dpkg
// --compare-versions on pairs of real versions from APT's package lists.
// It skips when dpkg or the lists are absent.
func TestVercmpOracleDpkg(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skip("dpkg not on PATH")
	}
	n := 2000
	if testing.Short() {
		n = 100
	}
	byPkg := aptVersions(t)
	pairs := samplePairs(byPkg, n, func(v string) string {
		if strings.Contains(v, ":") {
			return ""
		}
		return "0:" + v
	})
	verdicts := runVercmpBatch(t, "deb", pairs)
	want := make([]string, len(pairs))
	parallel(len(pairs), func(i int) {
		a, b := pairs[i][0], pairs[i][1]
		rel := func(op string) bool { return exec.Command(dpkg, "--compare-versions", a, op, b).Run() == nil }
		switch {
		case rel("lt"):
			want[i] = "-1"
		case rel("eq"):
			want[i] = "0"
		default:
			want[i] = "1"
		}
	})
	versions := map[string]bool{}
	for i, p := range pairs {
		versions[p[0]], versions[p[1]] = true, true
		if verdicts[i] != want[i] {
			t.Errorf("vercmp -e deb %q %q = %s, dpkg says %s", p[0], p[1], verdicts[i], want[i])
		}
	}
	t.Logf("dpkg agrees on %d pairs of %d distinct real versions", len(pairs), len(versions))
}

// TestVercmpOracleRPM checks `patchbay vercmp -e rpm` against rpm's own
// rpm.vercmp, run once as a Lua script over all pairs, on the real EVRs of
// the shared rpm inventories, their variants (no release, ~ and ^
// suffixes, explicit epochs) and the rpmvercmp.at vectors' versions. It
// skips when rpm is absent.
func TestVercmpOracleRPM(t *testing.T) {
	rpmBin, err := exec.LookPath("rpm")
	if err != nil {
		t.Skip("rpm not on PATH (apt-get install rpm)")
	}
	data, err := os.ReadFile(sharedFile(t, "inventories/rpm/rpm-evr-corpus.txt"))
	if err != nil {
		t.Fatal(err)
	}
	base := strings.Fields(string(data))
	nReal := len(base)
	vectors, err := os.ReadFile(sharedFile(t, "rpm-version/rpm-rpmvercmp.at.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(vectors)), "\n") {
		f := strings.Split(line, "\t")
		base = append(base, f[0], f[1])
	}
	set := map[string]bool{}
	for _, v := range base {
		ver, rel, hasRel := strings.Cut(v, "-")
		variants := []string{v, ver, ver + "~rc1", ver + "^20240101", "1:" + v, "0:" + v}
		if hasRel {
			variants = append(variants, ver+"~rc1-"+rel, ver+"^git1-"+rel, ver+"-"+rel+"~1", ver+"-"+rel+".1")
		}
		for _, w := range variants {
			if vercmp.ValidateRPM(w) == nil {
				set[w] = true
			}
		}
	}
	all := make([]string, 0, len(set))
	for v := range set {
		all = append(all, v)
	}
	slices.Sort(all)
	byPkg := map[string][]string{"": all}
	n := 20000
	if testing.Short() {
		n = 500
	}
	pairs := samplePairs(byPkg, n, func(v string) string {
		if strings.Contains(v, ":") {
			return ""
		}
		return "0:" + v
	})
	verdicts := runVercmpBatch(t, "rpm", pairs)

	dir := t.TempDir()
	var in strings.Builder
	for _, p := range pairs {
		fmt.Fprintf(&in, "%s\t%s\n", p[0], p[1])
	}
	pairsFile := filepath.Join(dir, "pairs.tsv")
	if err := os.WriteFile(pairsFile, []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`%%{lua: for line in io.lines(%q) do local a, b = line:match("^([^\t]*)\t(.*)$"); io.write(rpm.vercmp(a, b), "\n") end}`, pairsFile)
	out, err := exec.Command(rpmBin, "--eval", script).Output()
	if err != nil {
		t.Fatalf("rpm --eval: %v", err)
	}
	want := strings.Fields(string(out))
	if len(want) != len(pairs) {
		t.Fatalf("rpm gave %d verdicts for %d pairs", len(want), len(pairs))
	}
	for i, p := range pairs {
		if verdicts[i] != want[i] {
			t.Errorf("vercmp -e rpm %q %q = %s, rpm.vercmp says %s", p[0], p[1], verdicts[i], want[i])
		}
	}
	t.Logf("rpm.vercmp agrees on %d pairs of %d distinct versions (%d real EVRs, %d rpmvercmp.at versions, and their variants)", len(pairs), len(all), nReal, len(base)-nReal)
}
