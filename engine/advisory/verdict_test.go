package advisory_test

import (
	"context"

	"github.com/patchbay/patchbay/engine/baseline"
	"os"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/advisory"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/vercmp"
)

// realHost builds a report from a real package database in the shared
// inventories, with the named binary packages set to other versions
// (name → version; source version follows for packages whose source
// version equalled their own).
func realHost(t *testing.T, id, stream, rel string, eco vercmp.Ecosystem, change map[string]string) *inventory.Report {
	t.Helper()
	f, err := os.Open(fixture.Shared(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var pkgs []inventory.Package
	switch eco {
	case vercmp.Deb:
		pkgs, err = inventory.ParseDpkgStatus(f)
	case vercmp.RPM:
		pkgs, err = inventory.ParseRPMQuery(f)
	case vercmp.APK:
		pkgs, err = inventory.ParseAPKInstalled(f)
	}
	if err != nil {
		t.Fatal(err)
	}
	var keep []inventory.Package
	for _, p := range pkgs {
		if v, ok := change[p.Name]; ok {
			if p.SourceVersion == p.Version || p.SourceVersion == "" {
				p.SourceVersion = v
			}
			p.Version = v
		}
		if eco == vercmp.APK && p.Version == "" {
			continue // Trivy's deliberately broken stanza
		}
		keep = append(keep, p)
	}
	set, err := inventory.NewPackageSet(eco, keep)
	if err != nil {
		t.Fatal(err)
	}
	return &inventory.Report{HostID: id, Stream: stream, Ecosystem: eco, Packages: set, CollectedAt: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
}

func realDB(t *testing.T) *advisory.DB {
	return loadShared(t, "advisories/debian/vuln-list-debian", "advisories/ubuntu/ubuntu-security-notices",
		"advisories/ubuntu/vunnel-fixtures/osv", "advisories/redhat/almalinux-osv",
		"advisories/alpine/vuln-list", "advisories/kev/known_exploited_vulnerabilities.json",
		"advisories/epss/emba-epss-rows-for-collected-cves.csv")
}

func findingsOf(res *advisory.Result, host string) map[string]advisory.Finding {
	out := map[string]advisory.Finding{}
	for _, h := range res.Hosts {
		if h.HostID != host {
			continue
		}
		for _, f := range res.Sets[h.Set].Findings {
			out[f.AdvisoryID+" "+f.Package+" "+f.Installed] = *f
		}
	}
	return out
}

// TestVerdictsAgainstFeeds matches hosts built from the real inventories
// against the real records and checks each verdict against the feed's own
// statement.
func TestVerdictsAgainstFeeds(t *testing.T) {
	db := realDB(t)
	hosts := []*inventory.Report{
		// The real Debian 12 machine as collected.
		realHost(t, "deb-real", "debian-12", "inventories/dpkg/debian12-bookworm.status", vercmp.Deb, nil),
		// The same machine with only the library binary libssl3 held at an
		// older bookworm build while the openssl command is current.
		realHost(t, "deb-oldlib", "debian-12", "inventories/dpkg/debian12-bookworm.status", vercmp.Deb,
			map[string]string{"libssl3": "3.0.11-1~deb12u2"}),
		realHost(t, "ol9-real", "rhel-9", "inventories/rpm/go-rpmdb.oraclelinux9-plain.rpm-qa-queryformat.txt", vercmp.RPM, nil),
	}
	ix := advisory.NewIndex(db, []string{"debian-12", "rhel-9"}, nil)
	res := advisory.Match(ix, hosts, advisory.MatchOptions{})
	type want struct {
		host, key string // key: advisory, package, installed version compared
		verdict   advisory.Verdict
		fixed     string
		stream    string
		feedSays  string // the feed's own statement, for the reader
	}
	for _, w := range []want{
		// Backport: unstable fixed CVE-2024-0727 in 3.1.5-1, bookworm in
		// 3.0.13-1~deb12u1. 3.0.19-1~deb12u2 is below 3.1.5 upstream but has
		// the backported fix: fixed, judged on bookworm's own version.
		{"deb-real", "CVE-2024-0727 openssl 3.0.19-1~deb12u2", advisory.VerdictFixed, "3.0.13-1~deb12u1", "debian-12", "[bookworm] - openssl 3.0.13-1~deb12u1"},
		// Source vs binary: only the library binary libssl3 is old. A matcher
		// looking at the binary named "openssl" would call this host fixed.
		{"deb-oldlib", "CVE-2024-0727 openssl 3.0.11-1~deb12u2", advisory.VerdictAffected, "3.0.13-1~deb12u1", "debian-12", "[bookworm] - openssl 3.0.13-1~deb12u1"},
		{"deb-oldlib", "CVE-2024-0727 openssl 3.0.19-1~deb12u2", advisory.VerdictFixed, "3.0.13-1~deb12u1", "debian-12", "[bookworm] - openssl 3.0.13-1~deb12u1"},
		{"deb-real", "CVE-2024-3094 xz-utils 5.4.1-1", advisory.VerdictNotAffected, "", "debian-12", "[bookworm] - xz-utils <not-affected> (Vulnerable code not present)"},
		{"deb-real", "CVE-2024-5535 openssl 3.0.19-1~deb12u2", advisory.VerdictNoFix, "", "debian-12", "[bookworm] - openssl <postponed>"},
		{"deb-real", "CVE-2024-8176 expat 2.5.0-1+deb12u1", advisory.VerdictAffected, "2.5.0-1+deb12u2", "debian-12", "[bookworm] - expat 2.5.0-1+deb12u2"},
		{"deb-real", "CVE-2023-47038 perl 5.36.0-7+deb12u2", advisory.VerdictFixed, "5.36.0-7+deb12u1", "debian-12", "[bookworm] - perl 5.36.0-7+deb12u1"},
		// No bookworm line in the CVE record; DSA-5523-1 fixes it in bookworm.
		{"deb-real", "CVE-2023-38545 curl 7.88.1-10+deb12u14", advisory.VerdictFixed, "7.88.1-10+deb12u4", "debian-12", "DSA-5523-1: [bookworm] - curl 7.88.1-10+deb12u4"},
		// No bookworm line and no DSA in this snapshot: bookworm inherits
		// unstable's statement, as the tracker does.
		// That is "vulnerable, fixed in unstable": no fix for bookworm yet.
		{"deb-real", "CVE-2024-6387 openssh 1:9.2p1-2+deb12u6", advisory.VerdictNoFix, "1:9.7p1-7", "debian-sid", "- openssh 1:9.7p1-7 (unstable)"},
		// Inherited and at or above unstable's fix: fixed.
		{"deb-real", "CVE-2014-0160 openssl 3.0.19-1~deb12u2", advisory.VerdictFixed, "1.0.1g-1", "debian-sid", "- openssl 1.0.1g-1 (unstable)"},
		// An AlmaLinux-only release suffix is not held against a RHEL-family host.
		{"ol9-real", "ALSA-2024:2463 systemd 252-14.0.1.el9_2.1", advisory.VerdictAffected, "252-32.el9_4", "almalinux-9", "systemd fixed 252-32.el9_4.alma.1"},
		{"deb-real", "CVE-2024-28085 util-linux 2.38.1-5+deb12u3", advisory.VerdictNoFix, "", "debian-sid", "- util-linux <unfixed>"},
		// Binary RPM names, the distribution's own fixed NEVRA.
		{"ol9-real", "ALSA-2024:4312 openssh-server 8.7p1-30.el9_2", advisory.VerdictAffected, "8.7p1-38.el9_4.1", "almalinux-9", "openssh-server fixed 8.7p1-38.el9_4.1"},
		{"ol9-real", "ALSA-2023:4412 openssh 8.7p1-30.el9_2", advisory.VerdictFixed, "8.7p1-30.el9_2", "almalinux-9", "openssh fixed 8.7p1-30.el9_2"},
		{"ol9-real", "ALSA-2024:2447 openssl-libs 1:3.0.7-17.0.1.el9_2", advisory.VerdictAffected, "1:3.0.7-27.el9", "almalinux-9", "openssl-libs fixed 1:3.0.7-27.el9"},
	} {
		got, ok := findingsOf(res, w.host)[w.key]
		if !ok {
			t.Errorf("%s: no verdict for %s (feed: %s)", w.host, w.key, w.feedSays)
			continue
		}
		if got.Verdict != w.verdict || got.Fixed != w.fixed || got.Stream != w.stream {
			t.Errorf("%s %s: got %s fixed %q from %s, want %s fixed %q from %s (feed: %s)", w.host, w.key, got.Verdict, got.Fixed, got.Stream, w.verdict, w.fixed, w.stream, w.feedSays)
		}
	}
	// The backport case is one: comparing with unstable's upstream fix would
	// have been wrong.
	if vercmp.CompareDeb("3.0.19-1~deb12u2", "3.1.5-1") >= 0 {
		t.Fatal("the backport case no longer discriminates")
	}
	// deb-oldlib's openssl statement judged on libssl3 only.
	if f := findingsOf(res, "deb-oldlib")["CVE-2024-0727 openssl 3.0.11-1~deb12u2"]; len(f.Binaries) != 1 || f.Binaries[0] != "libssl3" {
		t.Errorf("binaries: %v, want [libssl3]", f.Binaries)
	}
	// Hosts with the same package set share one result.
	if len(res.Sets) != 3 {
		t.Errorf("sets: %d, want 3", len(res.Sets))
	}
}

// TestAlpineOrigin: secdb names aports; subpackages (libcrypto, libssl)
// are judged through their origin.
func TestAlpineOrigin(t *testing.T) {
	db := realDB(t)
	h := realHost(t, "alp", "alpine-3.20", "inventories/apk/syft.multiple-2.lib-apk-db-installed", vercmp.APK, nil)
	res := advisory.Match(advisory.NewIndex(db, []string{"alpine-3.20"}, nil), []*inventory.Report{h}, advisory.MatchOptions{})
	var seen bool
	for k, f := range findingsOf(res, "alp") {
		if f.Package == "openssl" {
			seen = true
			for _, b := range f.Binaries {
				if b == "openssl" {
					t.Errorf("%s: binary openssl is not installed on this image", k)
				}
			}
		}
	}
	if !seen {
		t.Fatal("no openssl (origin of libcrypto/libssl) verdicts")
	}
}

// TestModuleStreams: a fix built for the nginx:1.18 module stream applies
// only to modular nginx 1.18 builds.
func TestModuleStreams(t *testing.T) {
	db := realDB(t)
	mk := func(id, v string) *inventory.Report {
		set, err := inventory.NewPackageSet(vercmp.RPM, []inventory.Package{{Name: "nginx", Version: v, Arch: "x86_64"}})
		if err != nil {
			t.Fatal(err)
		}
		return &inventory.Report{HostID: id, Stream: "rhel-8", Ecosystem: vercmp.RPM, Packages: set}
	}
	hosts := []*inventory.Report{
		mk("old-118", "1:1.18.0-2.module_el8.4.0+2472+f736ed63.alma"),
		mk("new-120", "1:1.20.1-1.module_el8.6.0+2882+5b4e2a4c.alma"),
		mk("plain", "1:1.14.1-9.module_el8.0.0+184+e34fea82"),
		mk("nonmodular", "1:1.14.1-9.el8"),
	}
	res := advisory.Match(advisory.NewIndex(db, []string{"rhel-8"}, nil), hosts, advisory.MatchOptions{})
	get := func(h string) (advisory.Finding, bool) {
		for k, f := range findingsOf(res, h) {
			if len(k) > 14 && k[:14] == "ALSA-2021:2259" {
				return f, true
			}
		}
		return advisory.Finding{}, false
	}
	if f, ok := get("old-118"); !ok || f.Verdict != advisory.VerdictAffected || f.Module != "nginx:1.18" {
		t.Errorf("nginx:1.18 build below the fix: %+v %v", f, ok)
	}
	for _, h := range []string{"new-120", "plain", "nonmodular"} {
		if f, ok := get(h); ok {
			t.Errorf("%s: judged against the nginx:1.18 stream's fix: %+v", h, f)
		}
	}
}

func quickstart(t *testing.T) *baseline.Repository {
	t.Helper()
	repo, err := baseline.LoadDir(context.Background(), fixture.Path(t, "examples/quickstart"), baseline.Options{Now: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// TestLastAffected: an OSV range that ends with "last_affected" names no
// fix. Versions up to it have no fix yet (a finding of its own, not left
// out as before); versions after it, and versions below an "introduced"
// of a range without a fix, are not affected.
func TestLastAffected(t *testing.T) {
	const rec = `{"schema_version":"1.6.0","id":"RLSA-2026:0001","modified":"2026-11-01T00:00:00Z","published":"2026-11-01T00:00:00Z",
"aliases":["CVE-2026-0001"],"affected":[
{"package":{"ecosystem":"Rocky Linux:9","name":"foo"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"last_affected":"1.2-1.el9"}]}]},
{"package":{"ecosystem":"Rocky Linux:9","name":"bar"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"2.0-1.el9"}]}]}]}`
	var db advisory.DB
	if _, err := db.Add("test.json", []byte(rec), true); err != nil {
		t.Fatal(err)
	}
	mk := func(id, foo, bar string) *inventory.Report {
		set, err := inventory.NewPackageSet(vercmp.RPM, []inventory.Package{
			{Name: "foo", Version: foo, Arch: "x86_64"}, {Name: "bar", Version: bar, Arch: "x86_64"}})
		if err != nil {
			t.Fatal(err)
		}
		return &inventory.Report{HostID: id, Stream: "rocky-9", Ecosystem: vercmp.RPM, Packages: set}
	}
	hosts := []*inventory.Report{mk("old", "1.1-1.el9", "1.9-1.el9"), mk("last", "1.2-1.el9", "2.0-1.el9"), mk("new", "1.3-1.el9", "2.1-1.el9")}
	res := advisory.Match(advisory.NewIndex(&db, []string{"rocky-9"}, nil), hosts, advisory.MatchOptions{})
	want := map[string]advisory.Verdict{
		"old foo": advisory.VerdictNoFix, "last foo": advisory.VerdictNoFix, "new foo": advisory.VerdictNotAffected,
		"old bar": advisory.VerdictNotAffected, "last bar": advisory.VerdictNoFix, "new bar": advisory.VerdictNoFix,
	}
	for _, h := range hosts {
		got := map[string]advisory.Finding{}
		for _, f := range findingsOf(res, h.HostID) {
			got[f.Package] = f
		}
		for _, pkg := range []string{"foo", "bar"} {
			w := want[h.HostID+" "+pkg]
			f, ok := got[pkg]
			if w == advisory.VerdictNotAffected && !ok {
				continue // not listed is not affected too
			}
			if !ok || f.Verdict != w {
				t.Errorf("%s %s: %+v (listed %t), want %s", h.HostID, pkg, f, ok, w)
			}
		}
	}
}
