package vercmp

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay/patchbay/engine/internal/fixture"
)

// readTSV returns the TAB-separated rows of a shared test-data file,
// without its header line when header is set. Empty lines are skipped.
func readTSV(tb testing.TB, rel string, header bool) [][]string {
	tb.Helper()
	f, err := os.Open(fixture.Shared(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if header {
			header = false
			continue
		}
		if sc.Text() == "" {
			continue
		}
		rows = append(rows, strings.Split(sc.Text(), "\t"))
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(rows) == 0 {
		tb.Fatalf("%s: no rows", rel)
	}
	return rows
}

// verdict parses a -1/0/1 column.
func verdict(tb testing.TB, s string) int {
	tb.Helper()
	n, err := strconv.Atoi(s)
	if err != nil || n < -1 || n > 1 {
		tb.Fatalf("bad verdict %q", s)
	}
	return n
}

// checkPairs asserts cmp(a, b) == want and cmp(b, a) == -want on each row.
func checkPairs(t *testing.T, rows [][]string, compare func(a, b string) int) {
	t.Helper()
	for _, r := range rows {
		want := verdict(t, r[2])
		if got := compare(r[0], r[1]); got != want {
			t.Errorf("compare(%q, %q) = %d, want %d", r[0], r[1], got, want)
		}
		if got := compare(r[1], r[0]); got != -want {
			t.Errorf("compare(%q, %q) = %d, want %d", r[1], r[0], got, -want)
		}
	}
}

func TestDebCompareVectors(t *testing.T) {
	for _, file := range []string{
		"dpkg-version/dpkg-Dpkg_Version.t.tsv",
		"dpkg-version/dpkg-Dpkg_Version.t.sorted-pairs.tsv",
		"dpkg-version/dpkg-t-version.c.compare.tsv",
		"dpkg-version/dpkg-oracle.bookworm-Packages.2000pairs.tsv",
	} {
		t.Run(file, func(t *testing.T) {
			checkPairs(t, readTSV(t, file, false), CompareDeb)
		})
	}
}

func TestDebParseVectors(t *testing.T) {
	for _, r := range readTSV(t, "dpkg-version/dpkg-t-version.c.parse.tsv", true) {
		for len(r) < 5 {
			r = append(r, "")
		}
		in := r[0]
		switch in {
		case "<EMPTY>":
			in = ""
		case "<TWO-SPACES>":
			in = "  "
		}
		t.Run(r[0], func(t *testing.T) {
			err := ValidateDeb(in)
			var se *SyntaxError
			switch r[1] {
			case "ok":
				if err != nil {
					t.Fatalf("ValidateDeb(%q) = %v, want nil", in, err)
				}
				p := splitDeb(in)
				got := []string{strconv.Itoa(p.epoch), p.upstream, p.revision}
				if diff := cmp.Diff([]string{r[2], r[3], r[4]}, got); diff != "" {
					t.Errorf("splitDeb(%q) (-want +got):\n%s", in, diff)
				}
			case "error", "warn":
				if !errors.As(err, &se) || !errors.Is(err, ErrInvalidVersion) {
					t.Fatalf("ValidateDeb(%q) = %v, want a *SyntaxError", in, err)
				}
				if se.Warning != (r[1] == "warn") {
					t.Errorf("ValidateDeb(%q) = %v with Warning %v, want level %s", in, err, se.Warning, r[1])
				}
			default:
				t.Fatalf("bad result column %q", r[1])
			}
		})
	}
}

// TestDebWhitespace covers the parse vectors PROVENANCE.md says were not
// transcribed because of their TABs: dpkg trims surrounding whitespace.
func TestDebWhitespace(t *testing.T) {
	for _, v := range []string{"  \t0:0-1", "0:0-1  \t", " \t0:0-1 \t "} {
		if err := ValidateDeb(v); err != nil {
			t.Errorf("ValidateDeb(%q) = %v, want nil", v, err)
		}
		if got := CompareDeb(v, "0:0-1"); got != 0 {
			t.Errorf("CompareDeb(%q, \"0:0-1\") = %d, want 0", v, got)
		}
	}
}

func TestRPMCompareVectors(t *testing.T) {
	for _, file := range []string{
		"rpm-version/rpm-rpmvercmp.at.tsv",
		// What rpm 4.18 returns, although rpm calls it arguably buggy.
		"rpm-version/rpm-rpmvercmp.at.oddities-disabled.tsv",
		"rpm-version/rpm-evr-objects.tsv",
		"rpm-version/rpm-oracle.go-rpmdb-evr.1000pairs.tsv",
	} {
		t.Run(file, func(t *testing.T) {
			checkPairs(t, readTSV(t, file, false), CompareRPM)
		})
	}
}

// TestRPMCorpusValid checks that ValidateRPM accepts every real EVR of the
// shared rpm inventories.
func TestRPMCorpusValid(t *testing.T) {
	for _, r := range readTSV(t, "inventories/rpm/rpm-evr-corpus.txt", false) {
		if err := ValidateRPM(r[0]); err != nil {
			t.Errorf("ValidateRPM(%q) = %v", r[0], err)
		}
	}
}

func TestAPKCompareVectors(t *testing.T) {
	// apk-tools 3 refuses one side of these rows (PROVENANCE.md); the
	// expectation is apk-tools 2's, which our order for invalid versions
	// (after every valid one) happens to share. Validate must refuse them.
	refused := map[[2]string]string{
		{"23_foo", "4_beta"}: "23_foo",
		{"1.0", "1.0bc"}:     "1.0bc",
	}
	rows := readTSV(t, "apk-version/apk-version.data.compare.tsv", false)
	seen := 0
	for _, r := range rows {
		if bad, ok := refused[[2]string{r[0], r[1]}]; ok {
			seen++
			if ValidateAPK(bad) == nil {
				t.Errorf("ValidateAPK(%q) = nil, want an error (apk-tools 3 refuses it)", bad)
			}
			continue
		}
		for _, v := range r[:2] {
			if err := ValidateAPK(v); err != nil {
				t.Errorf("ValidateAPK(%q) = %v", v, err)
			}
		}
	}
	if seen != len(refused) {
		t.Errorf("found %d of the %d rows apk-tools 3 refuses", seen, len(refused))
	}
	checkPairs(t, rows, CompareAPK)
}

func TestAPKFuzzyVectors(t *testing.T) {
	for _, r := range readTSV(t, "apk-version/apk-version.data.fuzzy.tsv", true) {
		t.Run(strings.Join(r[:3], " "), func(t *testing.T) {
			c := CompareAPKFuzzy(r[0], r[2])
			var got bool
			switch r[1] {
			case "~":
				got = c == 0
			case "<~":
				got = c <= 0
			case ">~":
				got = c >= 0
			default:
				t.Fatalf("bad operator %q", r[1])
			}
			if want := r[3] == "true"; got != want {
				t.Errorf("CompareAPKFuzzy(%q, %q) = %d: %s is %v, want %v", r[0], r[2], c, r[1], got, want)
			}
		})
	}
}

func TestAPKValidityVectors(t *testing.T) {
	for _, r := range readTSV(t, "apk-version/apk-version.data.validity.tsv", true) {
		t.Run(r[0], func(t *testing.T) {
			err := ValidateAPK(r[0])
			if want := r[1] == "true"; (err == nil) != want {
				t.Errorf("ValidateAPK(%q) = %v, want valid %v", r[0], err, want)
			}
			if err != nil && !errors.Is(err, ErrInvalidVersion) {
				t.Errorf("ValidateAPK(%q) = %v, does not wrap ErrInvalidVersion", r[0], err)
			}
		})
	}
}

// TestAPKSecdbLists checks the osv.dev lists of versions seen in Alpine's
// secdb: the "invalid" ones are refused; the "valid" ones are accepted,
// except the 8 that PROVENANCE.md records apk-tools 3.0.6 refusing.
func TestAPKSecdbLists(t *testing.T) {
	refusedByV3 := map[string]bool{
		"6.6.2p1-r0": true, "6.6.4p1-r2": true, "16.6.4p1-r1": true, "3.3.3p1-r3": true,
		"6.7.1p1-r1": true, "10.2.22.r0": true, "10.2.24.r0": true, "0.8.21.r2": true,
	}
	for _, tc := range []struct {
		file  string
		valid func(string) bool
	}{
		{"apk-version/osvdev-alpine-secdb-valid_versions.txt", func(v string) bool { return !refusedByV3[v] }},
		{"apk-version/osvdev-alpine-secdb-invalid_versions.txt", func(string) bool { return false }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			for _, r := range readTSV(t, tc.file, false) {
				v := strings.TrimSpace(r[0])
				if v == "" || strings.HasPrefix(v, "#") {
					continue
				}
				err := ValidateAPK(v)
				if want := tc.valid(v); (err == nil) != want {
					t.Errorf("ValidateAPK(%q) = %v, want valid %v", v, err, want)
				}
			}
		})
	}
}

// TestAPKOracle checks the 1000 pairs judged by apk-tools 3.0.6: where it
// compared, Compare agrees; where it printed ERR, Validate refuses a side.
func TestAPKOracle(t *testing.T) {
	for _, r := range readTSV(t, "apk-version/apk-oracle.secdb-versions.1000pairs.tsv", false) {
		a, b, v3 := r[0], r[1], r[3]
		if v3 == "ERR" {
			if ValidateAPK(a) == nil && ValidateAPK(b) == nil {
				t.Errorf("apk-tools 3 refused %q vs %q, ValidateAPK accepts both", a, b)
			}
			continue
		}
		want := verdict(t, v3)
		if got := CompareAPK(a, b); got != want {
			t.Errorf("CompareAPK(%q, %q) = %d, apk-tools 3 says %d", a, b, got, want)
		}
	}
}

// TestAPKToolsData reads apk-tools' own test/unit/version.data verbatim:
// comparisons, negated fuzzy matches and validity lines.
func TestAPKToolsData(t *testing.T) {
	f, err := os.Open(fixture.Shared(t, "apk-version/apk-tools-version.data"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		switch len(fields) {
		case 0:
			if strings.TrimSpace(sc.Text()) == "!" {
				fields = []string{"!"}
			} else {
				continue
			}
		}
		n++
		if len(fields) == 1 {
			v, want := fields[0], true
			if strings.HasPrefix(v, "!") {
				v, want = v[1:], false
			}
			if got := ValidateAPK(v) == nil; got != want {
				t.Errorf("line %q: ValidateAPK valid = %v, want %v", sc.Text(), got, want)
			}
			continue
		}
		a, op, b := fields[0], fields[1], fields[2]
		negate := strings.HasPrefix(op, "!")
		op = strings.TrimPrefix(op, "!")
		fuzzy := strings.Contains(op, "~")
		c := CompareAPK(a, b)
		if fuzzy {
			c = CompareAPKFuzzy(a, b)
		}
		var got bool
		switch strings.Trim(op, "~") {
		case "<":
			got = c < 0 || (fuzzy && c == 0)
		case ">":
			got = c > 0 || (fuzzy && c == 0)
		case "=", "":
			got = c == 0
		default:
			t.Fatalf("line %q: unknown operator", sc.Text())
		}
		if got == negate {
			t.Errorf("line %q: compare = %d", sc.Text(), c)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 780 {
		t.Errorf("read %d test lines, want the file's 780 or so", n)
	}
}

// TestDebRank checks the rank table against dpkg's order() as debOrder
// writes it: same order for every pair of bytes.
func TestDebRank(t *testing.T) {
	for x := 0; x < 256; x++ {
		for y := 0; y < 256; y++ {
			want := sign(debOrder(byte(x)) - debOrder(byte(y)))
			got := sign(int(debRank[x]) - int(debRank[y]))
			if got != want {
				t.Fatalf("bytes %#x, %#x: rank order %d, order() %d", x, y, got, want)
			}
		}
	}
}
