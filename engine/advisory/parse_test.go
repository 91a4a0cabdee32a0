package advisory_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/engine/advisory"
	"github.com/patchbay/patchbay/engine/internal/fixture"
)

// notFeeds are the shared files that are not in a format patchbay reads, each
// with the reason; Detect must refuse every one of them by content.
var notFeeds = map[string]string{
	"osvdev-parts.":          "osv.dev's intermediate format",
	"_schema.json":           "a JSON schema",
	"osv-schema/schema.json": "the OSV JSON schema",
	"known_exploited_vulnerabilities.SAMPLE.csv": "KEV as CSV (the JSON catalogue is read)",
	"vuln-list/rocky/":                           "Rocky updateinfo (Rocky's OSV feed is read)",
	"vuln-list-redhat/api/":                      "Red Hat Security Data API",
	"csaf/":                                      "Red Hat CSAF",
	"vuln-list-ubuntu-cve-tracker/":              "Ubuntu CVE Tracker (Ubuntu's OSV is read)",
	"vex/":                                       "OpenVEX",
}

func reason(path string) string {
	for k, v := range notFeeds {
		if strings.Contains(path, k) {
			return v
		}
	}
	return ""
}

// TestEveryRealRecord reads every file of the shared advisory folders: each
// feed parses (with the OSV schema check on), each other file is refused by
// Detect, never silently taken for something else.
func TestEveryRealRecord(t *testing.T) {
	roots := []string{fixture.Shared(t, "vulndata"), fixture.Shared(t, "advisories")}
	counts := map[advisory.Format]int{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if ext := filepath.Ext(p); ext == ".md" || ext == ".txt" || ext == ".tsv" {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			db := &advisory.DB{}
			f, err := db.Add(rel, data, true)
			if why := reason(filepath.ToSlash(p)); why != "" {
				if !errors.Is(err, advisory.ErrUnknownFormat) {
					t.Errorf("%s (%s): want ErrUnknownFormat, got format %q, err %v", rel, why, f, err)
				}
				return nil
			}
			if err != nil {
				t.Errorf("%s: %v", rel, err)
				return nil
			}
			if db.Files[0].Records == 0 && !strings.Contains(rel, "TRIMMED") {
				t.Errorf("%s: %s with no records", rel, f)
			}
			counts[f]++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("files per format: %v", counts)
	want := map[advisory.Format]int{advisory.FormatOSV: 81, advisory.FormatDebianList: 40, advisory.FormatDebianTracker: 2, advisory.FormatAlpineSecdb: 24, advisory.FormatKEV: 3, advisory.FormatEPSS: 3}
	for f, n := range want {
		if counts[f] != n {
			t.Errorf("%s: read %d files, want %d", f, counts[f], n)
		}
	}
}

// TestEmbeddedSchemaIsOfficial keeps the embedded OSV schema equal to the
// official copy in the shared data.
func TestEmbeddedSchemaIsOfficial(t *testing.T) {
	shared, err := os.ReadFile(fixture.Shared(t, "vulndata/osv-schema/schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	own, err := os.ReadFile("osv-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shared, own) {
		t.Fatal("engine/advisory/osv-schema.json differs from the official schema in the shared test data")
	}
}

func loadShared(t *testing.T, rels ...string) *advisory.DB {
	t.Helper()
	var paths []string
	for _, r := range rels {
		paths = append(paths, fixture.Shared(t, r))
	}
	db, err := advisory.LoadFiles(context.Background(), paths, true)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func find(db *advisory.DB, id, feed string) *advisory.Advisory {
	for _, a := range db.Advisories {
		if a.ID == id && (feed == "" || a.Feed == feed) {
			return a
		}
	}
	return nil
}

func statement(a *advisory.Advisory, stream, pkg string) *advisory.Affected {
	for i := range a.Affected {
		if a.Affected[i].Stream == stream && a.Affected[i].Package == pkg {
			return &a.Affected[i]
		}
	}
	return nil
}

// TestFeedStatements checks what the parsers read against what the real
// records say, one fact per format.
func TestFeedStatements(t *testing.T) {
	db := loadShared(t, "advisories/debian/vuln-list-debian", "advisories/debian/tracker-json-shape", "advisories/debian/osv",
		"advisories/ubuntu/ubuntu-security-notices", "advisories/ubuntu/vunnel-fixtures/osv", "advisories/redhat/almalinux-osv",
		"advisories/alpine/vuln-list", "advisories/kev/known_exploited_vulnerabilities.json", "advisories/epss/emba-epss-rows-for-collected-cves.csv")
	type fact struct {
		id, feed, stream, pkg string
		status                advisory.Status
		fixed                 string
		kind                  advisory.Kind
	}
	for _, f := range []fact{
		{"CVE-2024-0727", "debian-list", "debian-12", "openssl", advisory.StatusFixed, "3.0.13-1~deb12u1", advisory.Source},
		{"CVE-2024-0727", "debian-list", "debian-sid", "openssl", advisory.StatusFixed, "3.1.5-1", advisory.Source},
		{"CVE-2024-5535", "debian-list", "debian-12", "openssl", advisory.StatusNotFixed, "", advisory.Source},
		{"CVE-2024-3094", "debian-list", "debian-12", "xz-utils", advisory.StatusNotAffected, "", advisory.Source},
		{"CVE-2024-8176", "debian-list", "debian-12", "libxmltok", advisory.StatusWillNotFix, "", advisory.Source},
		{"DSA-5523-1", "debian-list", "debian-12", "curl", advisory.StatusFixed, "7.88.1-10+deb12u4", advisory.Source},
		{"CVE-2016-5405", "debian-tracker", "debian-11", "389-ds-base", advisory.StatusFixed, "1.3.5.15-1", advisory.Source},
		{"CVE-2012-0833", "debian-tracker", "debian-11", "389-ds-base", advisory.StatusNotAffected, "", advisory.Source},
		{"CVE-2016-5416", "debian-tracker", "debian-11", "389-ds-base", advisory.StatusWillNotFix, "", advisory.Source},
		{"USN-6859-1", "osv", "ubuntu-24.04", "openssh", advisory.StatusFixed, "1:9.6p1-3ubuntu13.3", advisory.Source},
		{"UBUNTU-CVE-2016-20013", "osv", "ubuntu-24.04", "glibc", advisory.StatusNotFixed, "", advisory.Source},
		{"DSA-3029-1", "osv", "debian-7", "nginx", advisory.StatusFixed, "1.2.1-2.2+wheezy3", advisory.Source},
		{"ALSA-2024:4312", "osv", "almalinux-9", "openssh-server", advisory.StatusFixed, "8.7p1-38.el9_4.1", advisory.Binary},
		{"CVE-2024-6387", "alpine-secdb", "alpine-3.20", "openssh", advisory.StatusFixed, "9.7_p1-r4", advisory.Source},
		{"CVE-2023-38408", "alpine-secdb", "alpine-3.20", "openssh", advisory.StatusNotAffected, "", advisory.Source},
	} {
		a := find(db, f.id, f.feed)
		if a == nil {
			t.Errorf("%s (%s): not read", f.id, f.feed)
			continue
		}
		st := statement(a, f.stream, f.pkg)
		if st == nil {
			t.Errorf("%s: no statement for %s %s; have %+v", f.id, f.stream, f.pkg, a.Affected)
			continue
		}
		if st.Status != f.status || st.Fixed != f.fixed || st.Kind != f.kind {
			t.Errorf("%s %s %s: got %s %q %s, want %s %q %s", f.id, f.stream, f.pkg, st.Status, st.Fixed, st.Kind, f.status, f.fixed, f.kind)
		}
	}
	if a := find(db, "ALSA-2021:2259", "osv"); a == nil || statement(a, "almalinux-8", "nginx").Module != "nginx:1.18" || a.Severity != "high" {
		t.Errorf("ALSA-2021:2259: want module nginx:1.18 and severity high (Important), got %+v", a)
	}
	if a := find(db, "USN-6859-1", "osv"); a == nil || !contains(a.CVEs(), "CVE-2024-6387") {
		t.Errorf("USN-6859-1: want alias CVE-2024-6387, got %+v", a)
	}
	if a := find(db, "UBUNTU-CVE-2016-20013", "osv"); a == nil || a.Severity != "negligible" || len(a.CVSS) == 0 || a.CVSS[0].Score != 7.5 {
		t.Errorf("UBUNTU-CVE-2016-20013: want Ubuntu priority negligible and CVSS 7.5 computed from the vector, got %+v", a)
	}
	if db.KEV == nil || db.KEV.CatalogVersion != "2025.08.25" || len(db.KEV.Entries) != 1404 {
		t.Fatalf("KEV: %+v", db.KEV)
	}
	e := db.KEV.Entries["CVE-2014-0160"]
	if e.DueDate.Format("2006-01-02") != "2022-05-25" || e.DateAdded.Format("2006-01-02") != "2022-05-04" {
		t.Errorf("KEV CVE-2014-0160: added %s due %s", e.DateAdded, e.DueDate)
	}
	if s, ok := db.EPSS.Scores["CVE-2014-0160"]; !ok || s.Percentile < 0.99 {
		t.Errorf("EPSS CVE-2014-0160: %+v", s)
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// TestMalformed: each parser refuses broken input with a position.
func TestMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{"osv-syntax", "{\n  \"id\": \"DSA-1-1\",\n  \"modified\": \"2024-01-01T00:00:00Z\"\n  \"affected\": []\n}", "osv-syntax:4:4: invalid JSON"},
		{"osv-schema", `{"id": "DSA-1-1", "modified": "yesterday"}`, "osv-schema: /modified: does not follow the OSV schema"},
		{"osv-type", "{\"id\": \"DSA-1-1\", \"modified\": \"2024-01-01T00:00:00Z\",\n \"aliases\": 7}", "osv-type: /aliases: does not follow the OSV schema"},
		{"tracker", "{\"openssl\": {\"CVE-2024-1\": {\"releases\": {\"bookworm\": {\"status\": \"resolved\"}}}}}", "tracker: openssl/CVE-2024-1/releases/bookworm/fixed_version: missing"},
		{"tracker-status", "{\"openssl\": {\"CVE-2024-1\": {\"releases\": {\"bookworm\": {\"status\": \"maybe\"}}}}}", "unknown status \"maybe\""},
		{"list", "{\"Header\": {\"ID\": \"CVE-1\"}, \"Annotations\": [{\"Type\": \"package\", \"Kind\": \"fixed\", \"Package\": \"x\"}]}", "list: Annotations/0/Version: missing"},
		{"secdb", "{\"distroversion\": \"v3.20\", \"packages\": [{\"pkg\": {\"name\": \"x\", \"secfixes\": {\"1.0-r0\": 5}}}]}", "secdb:1:87: packages.pkg.secfixes: expected []string"},
		{"secdb-yaml", "distroversion: v3.11\npackages:\n  - pkg:\n      name: [x\n", "secdb-yaml:3:1"},
		{"kev", "{\"title\": \"t\", \"catalogVersion\": \"1\", \"vulnerabilities\": [{\"cveID\": \"CVE-2024-1234\", \"dateAdded\": \"2024-13-01\", \"dueDate\": \"2024-01-01\"}]}", "kev: vulnerabilities[0].dateAdded: \"2024-13-01\" is not a date"},
		{"epss", "#model_version:v1,score_date:2025-08-25T12:55:00Z\ncve,epss,percentile\nCVE-2024-1234,0.5,1.7\n", "epss:3:19: \"1.7\" is not a number between 0 and 1"},
		{"epss-fields", "CVE-2024-1234,0.5\n", "epss:1:1: want 3 fields"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			data := []byte(tc.data)
			switch {
			case strings.HasPrefix(tc.name, "osv"):
				_, err = advisory.ParseOSV(tc.name, data, advisory.OSVOptions{Validate: true})
			case strings.HasPrefix(tc.name, "tracker"):
				_, err = advisory.ParseDebianTracker(tc.name, data, advisory.Limits{})
			case tc.name == "list":
				_, err = advisory.ParseDebianList(tc.name, data, advisory.Limits{})
			case strings.HasPrefix(tc.name, "secdb"):
				_, err = advisory.ParseAlpineSecdb(tc.name, data, advisory.Limits{})
			case tc.name == "kev":
				_, err = advisory.ParseKEV(tc.name, data, advisory.Limits{})
			default:
				_, err = advisory.ParseEPSS("epss", data, advisory.Limits{})
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if !errors.Is(err, advisory.ErrMalformed) {
				t.Errorf("%v does not wrap ErrMalformed", err)
			}
		})
	}
}

// TestSizeBound: every parser refuses input over its limit before parsing.
func TestSizeBound(t *testing.T) {
	big := []byte(`{"id": "DSA-1-1", "modified": "2024-01-01T00:00:00Z", "details": "` + strings.Repeat("a", 100) + `"}`)
	lim := advisory.Limits{MaxBytes: 50}
	checks := map[string]error{}
	_, checks["osv"] = advisory.ParseOSV("x", big, advisory.OSVOptions{Limits: lim})
	_, checks["tracker"] = advisory.ParseDebianTracker("x", big, lim)
	_, checks["list"] = advisory.ParseDebianList("x", big, lim)
	_, checks["secdb"] = advisory.ParseAlpineSecdb("x", big, lim)
	_, checks["kev"] = advisory.ParseKEV("x", big, lim)
	_, checks["epss"] = advisory.ParseEPSS("x", big, lim)
	for k, err := range checks {
		if !errors.Is(err, advisory.ErrTooLarge) {
			t.Errorf("%s: got %v, want ErrTooLarge", k, err)
		}
	}
}
