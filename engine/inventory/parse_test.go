package inventory

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/vercmp"
)

func parseFile(t *testing.T, path string, parse func(*os.File) ([]Package, error)) []Package {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pkgs, err := parse(f)
	if err != nil {
		t.Fatalf("parse %s: %v", filepath.Base(path), err)
	}
	return pkgs
}

func dpkgFile(f *os.File) ([]Package, error) { return ParseDpkgStatus(f) }
func rpmFile(f *os.File) ([]Package, error)  { return ParseRPMQuery(f) }
func apkFile(f *os.File) ([]Package, error)  { return ParseAPKInstalled(f) }

func find(pkgs []Package, name string) (Package, bool) {
	for _, p := range pkgs {
		if p.Name == name {
			return p, true
		}
	}
	return Package{}, false
}

func TestParseDpkgStatusReal(t *testing.T) {
	path := fixture.Shared(t, "inventories/dpkg/debian12-bookworm.status")
	pkgs := parseFile(t, path, dpkgFile)
	if len(pkgs) != 743 {
		t.Errorf("got %d packages, want 743", len(pkgs))
	}
	for _, tc := range []struct {
		name string
		want Package
	}{
		// Source with a version: the binary keeps its epoch, the source version is the one in parentheses.
		{"bsdutils", Package{"bsdutils", "1:2.38.1-5+deb12u3", "amd64", "util-linux", "2.38.1-5+deb12u3"}},
		// Source without a version: the source version is the binary version.
		{"libc6", Package{"libc6", "2.36-9+deb12u14", "amd64", "glibc", "2.36-9+deb12u14"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := find(pkgs, tc.name)
			if !ok {
				t.Fatalf("%s not found", tc.name)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	if _, err := NewPackageSet(vercmp.Deb, pkgs); err != nil {
		t.Errorf("NewPackageSet: %v", err)
	}
}

// TestParseDpkgStatusOracle compares the parser with dpkg-query reading the
// same file: every installed package, its version, arch and source fields.
func TestParseDpkgStatusOracle(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("dpkg-query not on PATH")
	}
	for _, file := range []string{"debian12-bookworm.status", "syft.status.d-deinstall"} {
		t.Run(file, func(t *testing.T) {
			path := fixture.Shared(t, "inventories/dpkg/"+file)
			admin := t.TempDir()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{"updates", "info"} {
				if err := os.Mkdir(filepath.Join(admin, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(admin, "status"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("dpkg-query", "--admindir="+admin, "-W",
				"-f=${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\n").Output()
			if err != nil {
				t.Fatalf("dpkg-query: %v", err)
			}
			var want []Package
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				f := strings.Split(sc.Text(), "\t")
				if len(f) != 6 || len(f[0]) < 2 || f[0][1] != 'i' {
					continue // not installed
				}
				want = append(want, Package{f[1], f[2], f[3], f[4], f[5]})
			}
			wantSet, err := NewPackageSet(vercmp.Deb, want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := NewPackageSet(vercmp.Deb, parseFile(t, path, dpkgFile))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(wantSet.Packages(), got.Packages()); d != "" {
				t.Errorf("parser differs from dpkg-query (-dpkg-query +parser):\n%s", d)
			}
		})
	}
}

func TestParseDpkgStatusDeinstall(t *testing.T) {
	pkgs := parseFile(t, fixture.Shared(t, "inventories/dpkg/syft.status.d-deinstall"), dpkgFile)
	want := []Package{{"linux-image-6.14.0-1012-aws", "6.14.0-1012.12~24.04.1", "amd64", "linux-signed-aws-6.14", "6.14.0-1012.12~24.04.1"}}
	if d := cmp.Diff(want, pkgs); d != "" {
		t.Errorf("the deinstalled stanza must not count (-want +got):\n%s", d)
	}
}

func TestParseDpkgStatusMalformed(t *testing.T) {
	const ok = "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n\n"
	for _, tc := range []struct {
		name, in string
		line     int
		text     string
	}{
		{"no colon", ok + "Package b\n", 6, "Package b"},
		{"installed without version", ok + "Package: b\nStatus: install ok installed\nArchitecture: all\n", 6, "Package: b"},
		{"installed without arch", ok + "Package: b\nStatus: install ok installed\nVersion: 1\n", 6, "Package: b"},
		{"bad status", "Package: b\nStatus: installed\nVersion: 1\nArchitecture: all\n", 1, "Package: b"},
		{"bad source", "Package: b\nStatus: install ok installed\nVersion: 1\nArchitecture: all\nSource: c 1.0\n", 1, "Package: b"},
		{"space in version", "Package: b\nStatus: install ok installed\nVersion: 1 2\nArchitecture: all\n", 1, "Package: b"},
		{"continuation first", " oops\n", 1, " oops"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkgs, err := ParseDpkgStatus(strings.NewReader(tc.in))
			var le *LineError
			if !errors.As(err, &le) || !errors.Is(err, ErrSyntax) {
				t.Fatalf("got %v, %v; want a *LineError wrapping ErrSyntax", pkgs, err)
			}
			if le.Line != tc.line || le.Text != tc.text {
				t.Errorf("line %d text %q, want %d %q (%v)", le.Line, le.Text, tc.line, tc.text, err)
			}
		})
	}
}

func TestParseRPMQueryReal(t *testing.T) {
	for _, tc := range []struct {
		image string
		count int // lines minus gpg-pubkey keys
		check Package
	}{
		{"amazonlinux2-plain", 104, Package{"vim-minimal", "2:9.0.1592-1.amzn2.0.1", "x86_64", "vim", "2:9.0.1592-1.amzn2.0.1"}},
		{"oraclelinux9-plain", 181, Package{"libgcc", "11.3.1-4.3.0.1.el9", "x86_64", "gcc", "11.3.1-4.3.0.1.el9"}},
		{"sle15-bci", 36, Package{}},
	} {
		t.Run(tc.image, func(t *testing.T) {
			pkgs := parseFile(t, fixture.Shared(t, "inventories/rpm/go-rpmdb."+tc.image+".rpm-qa-queryformat.txt"), rpmFile)
			if len(pkgs) != tc.count {
				t.Errorf("got %d packages, want %d", len(pkgs), tc.count)
			}
			if tc.check.Name != "" {
				got, _ := find(pkgs, tc.check.Name)
				if d := cmp.Diff(tc.check, got); d != "" {
					t.Errorf("(-want +got):\n%s", d)
				}
			}
			// The nevra file (name-[epoch:]version-release.arch, one per
			// line) is an independent rendering of the same database.
			nevra, err := os.ReadFile(fixture.Shared(t, "inventories/rpm/go-rpmdb."+tc.image+".nevra.txt"))
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, l := range strings.Split(strings.TrimSpace(string(nevra)), "\n") {
				if !strings.HasPrefix(l, "gpg-pubkey-") {
					want = append(want, l)
				}
			}
			var got []string
			for _, p := range pkgs {
				got = append(got, p.Name+"-"+p.Version+"."+p.Arch)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("differs from the nevra list (-nevra +parser):\n%s", d)
			}
			// The documented TAB format gives the same packages.
			var tab strings.Builder
			data, err := os.ReadFile(fixture.Shared(t, "inventories/rpm/go-rpmdb."+tc.image+".rpm-qa-queryformat.txt"))
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				f := strings.Split(l, "¶")
				tab.WriteString(strings.Join([]string{f[1], f[0], f[2], f[3], f[4], f[5]}, "\t") + "\n")
			}
			tabPkgs, err := ParseRPMQuery(strings.NewReader(tab.String()))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(pkgs, tabPkgs); d != "" {
				t.Errorf("TAB format differs (-¶ +tab):\n%s", d)
			}
			if _, err := NewPackageSet(vercmp.RPM, pkgs); err != nil {
				t.Errorf("NewPackageSet: %v", err)
			}
		})
	}
}

func TestParseRPMQueryMariner(t *testing.T) {
	pkgs := parseFile(t, fixture.Shared(t, "inventories/rpm/syft.mariner-distroless.container-manifest-2"), rpmFile)
	want := []Package{
		{"mariner-release", "2.0-12.cm2", "noarch", "mariner-release", "2.0-12.cm2"},
		{"filesystem", "1.1-9.cm2", "x86_64", "filesystem", "1.1-9.cm2"},
		{"glibc", "2.35-2.cm2", "x86_64", "glibc", "2.35-2.cm2"},
		{"openssl-libs", "1.1.1k-15.cm2", "x86_64", "openssl", "1.1.1k-15.cm2"},
		{"vim", "2:9.0-1.cm2", "x86_64", "vim", "2:9.0-1.cm2"},
	}
	if d := cmp.Diff(want, pkgs); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestParseRPMQueryMalformed(t *testing.T) {
	good := "bash\t\t5.1.8\t6.el9\tx86_64\tbash-5.1.8-6.el9.src.rpm\n"
	for _, tc := range []struct {
		name, in string
		line     int
	}{
		{"five fields", good + "bash\t5.1.8\t6.el9\tx86_64\tbash.src.rpm\n", 2},
		{"bad source rpm", good + "\n" + "zsh\t\t5.8\t1.el9\tx86_64\tzsh.rpm\n", 3},
		{"empty release", "zsh\t\t5.8\t\tx86_64\t\n", 1},
		{"no arch", "zsh\t\t5.8\t1\t\t\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRPMQuery(strings.NewReader(tc.in))
			var le *LineError
			if !errors.As(err, &le) || !errors.Is(err, ErrSyntax) || le.Line != tc.line || le.Text == "" {
				t.Fatalf("got %v; want a syntax error at line %d", err, tc.line)
			}
		})
	}
}

func TestParseAPKInstalledReal(t *testing.T) {
	pkgs := parseFile(t, fixture.Shared(t, "inventories/apk/syft.multiple-2.lib-apk-db-installed"), apkFile)
	if len(pkgs) != 14 {
		t.Errorf("got %d packages, want 14", len(pkgs))
	}
	got, _ := find(pkgs, "alpine-baselayout-data")
	want := Package{"alpine-baselayout-data", "3.2.0-r22", "x86_64", "alpine-baselayout", "3.2.0-r22"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if _, err := NewPackageSet(vercmp.APK, pkgs); err != nil {
		t.Errorf("NewPackageSet: %v", err)
	}
}

// TestParseAPKInstalledNoVersion: Trivy's database has a stanza without V:.
// That is an error naming the stanza's line, never a silently shorter list.
func TestParseAPKInstalledNoVersion(t *testing.T) {
	path := fixture.Shared(t, "inventories/apk/trivy.testdata-apk.installed")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := ParseAPKInstalled(bytes.NewReader(data))
	var le *LineError
	if !errors.As(err, &le) || !errors.Is(err, ErrSyntax) {
		t.Fatalf("got %d packages, %v; want a syntax error", len(pkgs), err)
	}
	if le.Line != 23 || le.Text != "P:invalidPackageWithoutAVersion" || !strings.Contains(err.Error(), "without V:") {
		t.Errorf("error %q: want line 23 and the stanza's text", err)
	}
	// Without that stanza, the other 15 parse.
	fixed := bytes.Replace(data, []byte("P:invalidPackageWithoutAVersion\n\n"), nil, 1)
	pkgs, err = ParseAPKInstalled(bytes.NewReader(fixed))
	if err != nil || len(pkgs) != 15 {
		t.Fatalf("got %d packages, %v; want 15", len(pkgs), err)
	}
	musl, _ := find(pkgs, "musl")
	if musl.Version != "1.1.14-r10" {
		t.Errorf("musl %q, want 1.1.14-r10", musl.Version)
	}
}

// TestParseOsquery reads osquery-shaped results built by
// testdata/osquery/generate.sh from the real databases (no real osquery
// result log exists in the shared data) and checks they give the packages
// the native parsers give.
func TestParseOsquery(t *testing.T) {
	for _, tc := range []struct {
		name, osq, native string
		eco               vercmp.Ecosystem
		parse             func(*os.File) ([]Package, error)
	}{
		{"deb", "deb_packages.debian12-bookworm.json", "dpkg/debian12-bookworm.status", vercmp.Deb, dpkgFile},
		{"deb deinstalled", "deb_packages.syft-deinstall.json", "dpkg/syft.status.d-deinstall", vercmp.Deb, dpkgFile},
		{"rpm snapshot", "rpm_packages.oraclelinux9.snapshot.json", "rpm/go-rpmdb.oraclelinux9-plain.rpm-qa-queryformat.txt", vercmp.RPM, rpmFile},
		{"apk", "apk_packages.syft-multiple-2.json", "apk/syft.multiple-2.lib-apk-db-installed", vercmp.APK, apkFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := parseFile(t, fixture.Shared(t, "inventories/"+tc.native), tc.parse)
			got := parseFile(t, filepath.Join("testdata", "osquery", tc.osq), func(f *os.File) ([]Package, error) { return ParseOsquery(f, tc.eco) })
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("(-native +osquery):\n%s", d)
			}
		})
	}
}

func TestParseOsqueryMalformed(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"not json", `[{"name": "a",`},
		{"differential log", `{"name":"q","columns":{"name":"a"},"action":"added"}`},
		{"missing version", `[{"name":"a","arch":"amd64"}]`},
		{"bad source", `[{"name":"a","version":"1","arch":"amd64","source":"b 1"}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkgs, err := ParseOsquery(strings.NewReader(tc.in), vercmp.Deb)
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("got %v, %v; want a syntax error", pkgs, err)
			}
		})
	}
}
