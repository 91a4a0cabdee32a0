package advisory_test

import (
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
