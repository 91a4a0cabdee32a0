package vercmp

import (
	"sort"
	"strings"
	"testing"

	apkversion "github.com/knqyf263/go-apk-version"
	debversion "github.com/knqyf263/go-deb-version"
	rpmversion "github.com/knqyf263/go-rpm-version"
)

// The knqyf263 libraries, called the way Trivy and Grype call them: parse
// both sides, then compare. ok is false when the library refuses a side.

func libDeb(a, b string) (int, bool) {
	va, err := debversion.NewVersion(a)
	if err != nil {
		return 0, false
	}
	vb, err := debversion.NewVersion(b)
	if err != nil {
		return 0, false
	}
	return sign(va.Compare(vb)), true
}

func libRPM(a, b string) (int, bool) {
	return sign(rpmversion.NewVersion(a).Compare(rpmversion.NewVersion(b))), true
}

func libAPK(a, b string) (int, bool) {
	va, err := apkversion.NewVersion(a)
	if err != nil {
		return 0, false
	}
	vb, err := apkversion.NewVersion(b)
	if err != nil {
		return 0, false
	}
	return sign(va.Compare(vb)), true
}

// diffCase is one ecosystem's differential run: the vector files whose
// versions make the corpus, our comparison and the library's.
type diffCase struct {
	eco     Ecosystem
	files   []string
	ours    func(a, b string) int
	lib     func(a, b string) (int, bool)
	valid   func(string) error
	maxVers int
	// explain names the known reason the library may disagree on a pair,
	// or returns "". Each reason has witnesses with the real tool's
	// verdict in TestLibraryDisagreements.
	explain func(a, b string) string
}

func diffCases() []diffCase {
	return []diffCase{
		{Deb, []string{
			"dpkg-version/dpkg-Dpkg_Version.t.tsv",
			"dpkg-version/dpkg-Dpkg_Version.t.sorted-pairs.tsv",
			"dpkg-version/dpkg-t-version.c.compare.tsv",
			"dpkg-version/dpkg-oracle.bookworm-Packages.2000pairs.tsv",
		}, CompareDeb, libDeb, ValidateDeb, 200, noExplanation},
		{RPM, []string{
			"rpm-version/rpm-rpmvercmp.at.tsv",
			"rpm-version/rpm-rpmvercmp.at.oddities-disabled.tsv",
			"rpm-version/rpm-evr-objects.tsv",
			"rpm-version/rpm-oracle.go-rpmdb-evr.1000pairs.tsv",
			"inventories/rpm/rpm-evr-corpus.txt",
		}, CompareRPM, libRPM, ValidateRPM, 200, noExplanation},
		{APK, []string{
			"apk-version/apk-version.data.compare.tsv",
			"apk-version/apk-oracle.secdb-versions.1000pairs.tsv",
			"apk-version/osvdev-alpine-secdb-valid_versions.txt",
		}, CompareAPK, libAPK, ValidateAPK, 200, explainAPK},
	}
}

// corpus returns the distinct valid versions of the case's files, sorted,
// thinned evenly to at most max.
func (c diffCase) corpus(t *testing.T) []string {
	seen := map[string]bool{}
	for _, f := range c.files {
		for _, r := range readTSV(t, f, false) {
			for i, v := range r {
				if i > 1 {
					break
				}
				if v != "" && !strings.HasPrefix(v, "#") && c.valid(v) == nil {
					seen[v] = true
				}
			}
		}
	}
	vs := make([]string, 0, len(seen))
	for v := range seen {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	if len(vs) > c.maxVers {
		step := float64(len(vs)) / float64(c.maxVers)
		thin := make([]string, 0, c.maxVers)
		for i := 0; i < c.maxVers; i++ {
			thin = append(thin, vs[int(float64(i)*step)])
		}
		vs = thin
	}
	return vs
}

func noExplanation(a, b string) string { return "" }

// apkZeroRule is the one known apk disagreement: go-apk-version ports
// apk-tools 2.10, which counts the zeros of a digit token that starts with
// '0' (after the first token) and then loses the token type, so 6.0_pre1 >
// 6.0 there. apk-tools 3 compares such a token as a string and keeps its
// type.
const apkZeroRule = "digit token with a leading zero"

func explainAPK(a, b string) string {
	if strings.Contains(a, ".0") || strings.Contains(b, ".0") {
		return apkZeroRule
	}
	return ""
}

// pairs returns every vector row of the case's files whose versions are
// both valid, then every pair of the corpus.
func (c diffCase) pairs(t *testing.T) [][2]string {
	var ps [][2]string
	for _, f := range c.files {
		for _, r := range readTSV(t, f, false) {
			if len(r) >= 3 && c.valid(r[0]) == nil && c.valid(r[1]) == nil {
				ps = append(ps, [2]string{r[0], r[1]})
			}
		}
	}
	vs := c.corpus(t)
	for _, a := range vs {
		for _, b := range vs {
			ps = append(ps, [2]string{a, b})
		}
	}
	return ps
}

// TestDifferential compares every valid pair of the shared vectors, and
// every pair of a corpus of real versions, with the knqyf263 library of
// the ecosystem. A disagreement fails unless a known reason explains it.
func TestDifferential(t *testing.T) {
	for _, c := range diffCases() {
		t.Run(string(c.eco), func(t *testing.T) {
			ps := c.pairs(t)
			refused, agreed := 0, 0
			explained := map[string]int{}
			for _, p := range ps {
				a, b := p[0], p[1]
				want, ok := c.lib(a, b)
				if !ok {
					refused++
					continue
				}
				got := c.ours(a, b)
				if got == want {
					agreed++
					continue
				}
				why := c.explain(a, b)
				if why == "" {
					t.Errorf("Compare(%s, %q, %q) = %d, knqyf263 says %d, and no known reason explains it", c.eco, a, b, got, want)
					continue
				}
				explained[why]++
			}
			t.Logf("%s: %d pairs, %d agree, library refused %d, explained disagreements %v", c.eco, len(ps), agreed, refused, explained)
			if agreed < len(ps)/2 {
				t.Errorf("only %d of %d pairs agree", agreed, len(ps))
			}
		})
	}
}

// TestLibraryDisagreements shows each reason the knqyf263 libraries may
// disagree with us on a valid pair, on pairs judged by the real tool.
func TestLibraryDisagreements(t *testing.T) {
	for _, tc := range []struct {
		name    string
		a, b    string
		tool    int // the real tool's verdict
		source  string
		compare func(a, b string) int
		lib     func(a, b string) (int, bool)
		rule    func(a, b string) string
	}{
		{apkZeroRule, "8.2.0", "8.2.001", -1, "apk-tools 3.0.6, test/unit/version.data", CompareAPK, libAPK, explainAPK},
		{apkZeroRule, "8.2.0015", "8.2.002", -1, "apk-tools 3.0.6, test/unit/version.data", CompareAPK, libAPK, explainAPK},
		{apkZeroRule, "6.0_pre1", "6.0", -1, "apk-tools 2.14.10 and 3.0.6, test/unit/version.data", CompareAPK, libAPK, explainAPK},
	} {
		t.Run(tc.a+" vs "+tc.b, func(t *testing.T) {
			if got := tc.compare(tc.a, tc.b); got != tc.tool {
				t.Errorf("ours = %d, %s says %d", got, tc.source, tc.tool)
			}
			lib, ok := tc.lib(tc.a, tc.b)
			if !ok || lib == tc.tool {
				t.Errorf("knqyf263 = %d (ok %v): it no longer disagrees; drop this reason if none is left", lib, ok)
			}
			if got := tc.rule(tc.a, tc.b); got != tc.name {
				t.Errorf("explained as %q, want %q", got, tc.name)
			}
		})
	}
}
