package advisory_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/patchbay/patchbay/engine/advisory"
	"github.com/patchbay/patchbay/engine/internal/fixture"
)

// seed adds the real samples matching the globs (relative to the shared
// test data) to the corpus, each shrunk to at most 2 KB with its shape
// kept (see shrink); without the shared data the fuzzers still run on
// their inline seeds.
//
// Whole files (3-19 KB) stalled the fuzzers: under coverage guidance a
// mutation of a large seed that reaches new code is minimized before the
// worker fuzzes on, and Go's byte minimizer tries O(n²) cuts of an n-byte
// input, each an execution, bounded only by -fuzzminimizetime (60 s); the
// KEV and tracker fuzzers stopped at 5-8 executions for the whole minute
// ("hung ... while minimizing" when the workers were interrupted).
// TestEveryRealRecord reads the whole files.
func seed(f *testing.F, globs ...string) {
	root := filepath.Join(fixture.Root(f), "..", "shared", "testdata")
	for _, g := range globs {
		ms, _ := filepath.Glob(filepath.Join(root, g))
		for _, m := range ms {
			if b, err := os.ReadFile(m); err == nil {
				f.Add(shrink(b))
			}
		}
	}
}

// maxSeed is the size shrink aims for.
const maxSeed = 2 << 10

// shrink cuts a real feed file to a small one of the same shape: JSON
// keeps its structure with arrays cut to their first elements, objects to
// their first keys (in sorted order) and strings to 64 bytes, as far as
// needed to fit maxSeed; text (CSV, YAML) keeps its first lines.
func shrink(b []byte) []byte {
	if len(b) <= maxSeed {
		return b
	}
	var v any
	if err := json.Unmarshal(b, &v); err == nil {
		var out []byte
		for _, lim := range []int{16, 8, 4, 2, 1} {
			if out, _ = json.Marshal(cut(v, lim)); len(out) <= maxSeed {
				break
			}
		}
		return out
	}
	var out []byte
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(out)+len(line) > maxSeed {
			break
		}
		out = append(out, line...)
	}
	return out
}

// cut keeps the first 2 elements of arrays (1 at lim 1), the first 2×lim
// keys of objects and 64 bytes of strings.
func cut(v any, lim int) any {
	switch x := v.(type) {
	case []any:
		out := []any{}
		for i := 0; i < len(x) && i < min(lim, 2); i++ {
			out = append(out, cut(x[i], lim))
		}
		return out
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out := map[string]any{}
		for _, k := range keys[:min(len(keys), 2*lim)] {
			out[k] = cut(x[k], lim)
		}
		return out
	case string:
		if len(x) > 64 {
			return x[:64]
		}
	}
	return v
}

// fuzzCheck: a parser either succeeds or fails with a positioned
// ErrMalformed / ErrTooLarge; it never panics.
func fuzzCheck(t *testing.T, err error) {
	if err != nil && !errors.Is(err, advisory.ErrMalformed) && !errors.Is(err, advisory.ErrTooLarge) {
		t.Fatalf("unexpected error kind: %v", err)
	}
}

func FuzzParseOSV(f *testing.F) {
	f.Add([]byte(`{"id":"DSA-1-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Debian:12","name":"x"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0-1"}]}]}]}`))
	seed(f, "vulndata/osv-*/*.json", "advisories/redhat/almalinux-osv/almalinux9/ALSA-2024:4*.json", "advisories/ubuntu/ubuntu-security-notices/osv/usn/*.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := advisory.ParseOSV("f", data, advisory.OSVOptions{Validate: true})
		fuzzCheck(t, err)
	})
}

func FuzzParseDebianTracker(f *testing.F) {
	f.Add([]byte(`{"openssl":{"CVE-2024-1":{"releases":{"bookworm":{"status":"resolved","fixed_version":"3.0.13-1~deb12u1","urgency":"low"}}}}}`))
	seed(f, "advisories/debian/tracker-json-shape/*.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := advisory.ParseDebianTracker("f", data, advisory.Limits{})
		fuzzCheck(t, err)
	})
}

func FuzzParseDebianList(f *testing.F) {
	seed(f, "advisories/debian/vuln-list-debian/tracker/DSA/*.json", "advisories/debian/vuln-list-debian/tracker/CVE/2024/CVE-2024-0*.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := advisory.ParseDebianList("f", data, advisory.Limits{})
		fuzzCheck(t, err)
	})
}

func FuzzParseAlpineSecdb(f *testing.F) {
	f.Add([]byte("distroversion: v3.20\npackages:\n  - pkg:\n      name: x\n      secfixes:\n        1.0-r1:\n          - CVE-2024-1\n"))
	seed(f, "advisories/alpine/vuln-list/alpine/3.20/main/*.json", "advisories/alpine/secdb-json-shape/*.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := advisory.ParseAlpineSecdb("f", data, advisory.Limits{})
		fuzzCheck(t, err)
	})
}

func FuzzParseKEV(f *testing.F) {
	f.Add([]byte(`[{"cveID":"CVE-2024-3094","vendorProject":"XZ","product":"xz","vulnerabilityName":"n","dateAdded":"2024-04-01","dueDate":"2024-04-22","knownRansomwareCampaignUse":"Unknown"}]`))
	seed(f, "advisories/kev/kev-entries-for-collected-cves.json", "vulndata/kev/*.SAMPLE.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := advisory.ParseKEV("f", data, advisory.Limits{})
		fuzzCheck(t, err)
	})
}

func FuzzParseEPSS(f *testing.F) {
	seed(f, "vulndata/epss/*.csv", "advisories/epss/*EXCERPT.csv")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := advisory.ParseEPSS("f", data, advisory.Limits{})
		fuzzCheck(t, err)
	})
}

// FuzzDetect: recognition never panics, and what it recognises the DB
// either reads or refuses with a typed error.
func FuzzDetect(f *testing.F) {
	seed(f, "vulndata/*/*.json", "vulndata/epss/*.csv")
	f.Fuzz(func(t *testing.T, data []byte) {
		db := &advisory.DB{}
		_, err := db.Add("f", data, false)
		if err != nil && !errors.Is(err, advisory.ErrMalformed) && !errors.Is(err, advisory.ErrTooLarge) && !errors.Is(err, advisory.ErrUnknownFormat) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}
