package vercmp

import "testing"

// seedFuzz adds the versions of the shared vector files to f's corpus, in
// triples (a, b, c) taken from neighbouring rows.
func seedFuzz(f *testing.F, files ...string) {
	var vs []string
	for _, file := range files {
		for _, r := range readTSV(f, file, false) {
			vs = append(vs, r[0])
			if len(r) > 2 {
				vs = append(vs, r[1])
			}
		}
	}
	for i := 0; i+2 < len(vs); i++ {
		f.Add(vs[i], vs[i+1], vs[i+2])
	}
}

// checkOrder asserts the properties of an ordering on three values:
// reflexivity, antisymmetry and transitivity (of <=, of =, and <).
func checkOrder(t *testing.T, compare func(a, b string) int, a, b, c string) {
	t.Helper()
	for _, v := range []string{a, b, c} {
		if got := compare(v, v); got != 0 {
			t.Fatalf("compare(%q, itself) = %d", v, got)
		}
	}
	ab, ba := compare(a, b), compare(b, a)
	bc, ac := compare(b, c), compare(a, c)
	if ab != -ba {
		t.Fatalf("compare(%q, %q) = %d but compare(%q, %q) = %d", a, b, ab, b, a, ba)
	}
	for _, r := range []int{ab, bc, ac} {
		if r < -1 || r > 1 {
			t.Fatalf("result %d out of range", r)
		}
	}
	if ab <= 0 && bc <= 0 && ac > 0 || ab >= 0 && bc >= 0 && ac < 0 {
		t.Fatalf("not transitive: %q vs %q = %d, %q vs %q = %d, %q vs %q = %d", a, b, ab, b, c, bc, a, c, ac)
	}
}

func FuzzCompareDeb(f *testing.F) {
	seedFuzz(f, "dpkg-version/dpkg-Dpkg_Version.t.tsv", "dpkg-version/dpkg-t-version.c.compare.tsv",
		"dpkg-version/dpkg-oracle.bookworm-Packages.2000pairs.tsv")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		_ = ValidateDeb(a)
		checkOrder(t, CompareDeb, a, b, c)
	})
}

func FuzzCompareRPM(f *testing.F) {
	seedFuzz(f, "rpm-version/rpm-rpmvercmp.at.tsv", "rpm-version/rpm-evr-objects.tsv",
		"rpm-version/rpm-oracle.go-rpmdb-evr.1000pairs.tsv")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		_ = ValidateRPM(a)
		checkOrder(t, CompareRPM, a, b, c)
	})
}

func FuzzCompareAPK(f *testing.F) {
	seedFuzz(f, "apk-version/apk-version.data.compare.tsv", "apk-version/apk-oracle.secdb-versions.1000pairs.tsv")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		err := ValidateAPK(a)
		_ = CompareAPKFuzzy(a, b)
		// The comparison's own validity check agrees with Validate.
		if _, va, vb := apkCompare(a, b, false); va != (err == nil) || vb != (ValidateAPK(b) == nil) {
			t.Fatalf("apkCompare(%q, %q) validity %v, %v; ValidateAPK says %v, %v", a, b, va, vb, err, ValidateAPK(b))
		}
		// A valid version sorts before every invalid one.
		if err == nil && ValidateAPK(b) != nil && CompareAPK(a, b) != -1 {
			t.Fatalf("valid %q does not sort before invalid %q", a, b)
		}
		checkOrder(t, CompareAPK, a, b, c)
	})
}

// TestRPMReleaseRule pins how rpm 4.18's rpm.vercmp treats a missing
// release: it sorts before any release, even an empty one; rpm's verdicts.
func TestRPMReleaseRule(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0-1", -1},
		{"1.0", "1.0-", -1},
		{"1.0-", "1.0-~", 1},
		{"1.0-1", "1.0-2", -1},
		{"1:1.0", "1:1.0-9", -1},
		{"1.0", "1:1.0-1", -1},
		{":1", "0:1", 0},
		{"1.1", "1.0-9", 1},
	} {
		t.Run(tc.a+" vs "+tc.b, func(t *testing.T) {
			if got := CompareRPM(tc.a, tc.b); got != tc.want {
				t.Errorf("CompareRPM(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

// TestNUL checks that Validate refuses a NUL byte, which no C tool can
// see inside a version.
func TestNUL(t *testing.T) {
	for _, eco := range Ecosystems() {
		if err := Validate(eco, "1.0\x00"); err == nil {
			t.Errorf("%s: Validate accepts a NUL byte", eco)
		}
	}
}

// compareRPMPlain is CompareRPM without its fast paths: split both EVRs,
// then compare epoch, version and release, as rpmverCmp does.
func compareRPMPlain(a, b string) int {
	ha, hb := lastByte(a, '-'), lastByte(b, '-')
	ea, va, ra := splitRPMAt(a, ha)
	eb, vb, rb := splitRPMAt(b, hb)
	if c := rpmvercmp(ea, eb); c != 0 {
		return c
	}
	if c := rpmvercmp(va, vb); c != 0 {
		return c
	}
	switch {
	case ha >= 0 && hb >= 0:
		return rpmvercmp(ra, rb)
	case ha >= 0:
		return 1
	case hb >= 0:
		return -1
	}
	return 0
}

// fastPathSeeds are versions that steer the fast paths into their corners:
// signs and zeros in epochs, several '-', '-' right after the epoch,
// whitespace, the same upstream with different revisions.
func fastPathSeeds() [][2]string {
	return [][2]string{
		{"-0:1.0-1", "-0:1.0-2"}, {"-0:1-2-3", "0:1-2-3"}, {"+1:1.0-1", "1:1.0-1"}, {"1:-1", "1:-2"},
		{"1.0-1-2", "1.0-1-3"}, {"1.0-1", "1.0-1-1"}, {"1.0", "0:1.0"}, {"1.0-1", "0:1.0-1"},
		{" 1.0-1", "1.0-1 "}, {"01:1.0", "1:1.0"}, {"1.0-1", "1.0.1-1"}, {"1.0~rc1-1", "1.0-1"},
		{"2:1.0-1", "10:1.0-1"}, {"1.0-1~", "1.0-1"}, {"1-", "1"}, {":1", "0:1"}, {"1:", "1:0"},
	}
}

// FuzzDebFastPaths checks CompareDeb against the plain split-then-compare
// of dpkg's dpkg_version_compare.
func FuzzDebFastPaths(f *testing.F) {
	for _, s := range fastPathSeeds() {
		f.Add(s[0], s[1])
	}
	for _, r := range readTSV(f, "dpkg-version/dpkg-oracle.bookworm-Packages.2000pairs.tsv", false) {
		f.Add(r[0], r[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if got, want := CompareDeb(a, b), compareDebParts(splitDeb(a), splitDeb(b)); got != want {
			t.Fatalf("CompareDeb(%q, %q) = %d, plain comparison %d", a, b, got, want)
		}
	})
}

// FuzzRPMFastPaths checks CompareRPM against compareRPMPlain.
func FuzzRPMFastPaths(f *testing.F) {
	for _, s := range fastPathSeeds() {
		f.Add(s[0], s[1])
	}
	for _, r := range readTSV(f, "rpm-version/rpm-oracle.go-rpmdb-evr.1000pairs.tsv", false) {
		f.Add(r[0], r[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if got, want := CompareRPM(a, b), compareRPMPlain(a, b); got != want {
			t.Fatalf("CompareRPM(%q, %q) = %d, plain comparison %d", a, b, got, want)
		}
	})
}
