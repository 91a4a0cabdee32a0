package advisory_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/patchbay/patchbay/engine/advisory"
	"github.com/patchbay/patchbay/engine/internal/fixture"
)

// seed adds the real samples matching the globs (relative to the shared
// test data) to the corpus; without the shared data the fuzzers still run
// on their inline seeds.
func seed(f *testing.F, globs ...string) {
	root := filepath.Join(fixture.Root(f), "..", "shared", "testdata")
	for _, g := range globs {
		ms, _ := filepath.Glob(filepath.Join(root, g))
		for _, m := range ms {
			if b, err := os.ReadFile(m); err == nil && len(b) < 64<<10 {
				f.Add(b)
			}
		}
	}
}

// seedKEV adds the real KEV files cut to their first two entries (the
// catalogue's header kept, or the bare array), a few hundred bytes each.
// Whole files (10-19 KB) stalled the fuzzer: under coverage guidance
// nearly every mutation of a catalogue reaches a new error path, and the
// fuzzer minimizes each such input before it fuzzes on, up to
// -fuzzminimizetime (60 s) per input at tens of thousands of executions
// on a large input; execs stopped at a handful ("hung ... while
// minimizing" when the workers were interrupted). Small seeds keep the
// real shapes and minimize in milliseconds. TestEveryRealRecord reads the
// whole files.
func seedKEV(f *testing.F, files ...string) {
	root := filepath.Join(fixture.Root(f), "..", "shared", "testdata")
	f.Add([]byte(`[{"cveID":"CVE-2024-3094","vendorProject":"XZ","product":"xz","vulnerabilityName":"n","dateAdded":"2024-04-01","dueDate":"2024-04-22","knownRansomwareCampaignUse":"Unknown"}]`))
	for _, rel := range files {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			continue
		}
		var entries []json.RawMessage
		if err := json.Unmarshal(b, &entries); err == nil {
			small, _ := json.Marshal(entries[:min(2, len(entries))])
			f.Add(small)
			continue
		}
		var doc map[string]json.RawMessage
		if json.Unmarshal(b, &doc) != nil || json.Unmarshal(doc["vulnerabilities"], &entries) != nil {
			f.Fatalf("seed %s: not a KEV file", rel)
		}
		doc["vulnerabilities"], _ = json.Marshal(entries[:min(2, len(entries))])
		small, _ := json.Marshal(doc)
		f.Add(small)
	}
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
	seedKEV(f, "advisories/kev/kev-entries-for-collected-cves.json", "vulndata/kev/known_exploited_vulnerabilities.SAMPLE.json")
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
