package inventory

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/vercmp"
)

var testNow = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// TestCollectThisMachine is the acceptance test: on a Debian or Ubuntu
// machine, Collect("/") lists exactly the packages dpkg-query calls
// installed, with the same versions and architectures.
func TestCollectThisMachine(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("dpkg-query not on PATH")
	}
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		t.Skip("no dpkg database on this machine")
	}
	r, err := Collect(context.Background(), "/", CollectOptions{HostID: "this-machine", Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ecosystem != vercmp.Deb {
		t.Skipf("this machine is %s", r.Stream)
	}
	out, err := exec.Command("dpkg-query", "-W", "-f=${db:Status-Abbrev}\t${Package} ${Version} ${Architecture}\n").Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		abbrev, line, _ := strings.Cut(sc.Text(), "\t")
		if len(abbrev) >= 2 && abbrev[1] == 'i' {
			want = append(want, line)
		}
	}
	var got []string
	for _, p := range r.Packages.Packages() {
		got = append(got, p.Name+" "+p.Version+" "+p.Arch)
	}
	slices.Sort(want)
	slices.Sort(got)
	if len(want) == 0 {
		t.Fatal("dpkg-query lists no installed package")
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Collect differs from dpkg-query (-dpkg-query +collect):\n%s", d)
	}
	k, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	if r.Kernel != strings.TrimSpace(string(k)) || r.Kernel == "" {
		t.Errorf("kernel %q, want uname -r %q", r.Kernel, k)
	}
	if _, err := Decode(marshal(t, r)); err != nil {
		t.Errorf("the report does not decode: %v", err)
	}
}

// writeRoot makes a root directory with the given files.
func writeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func readShared(t *testing.T, rel string) string {
	t.Helper()
	data, err := os.ReadFile(fixture.Shared(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

const debian12OSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`

func TestCollectRoots(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]string
		want    Report // header fields compared
		count   int
		wantErr error
	}{
		{
			name: "debian image",
			files: map[string]string{
				"usr/lib/os-release":   debian12OSRelease,
				"var/lib/dpkg/status":  readShared(t, "inventories/dpkg/debian12-bookworm.status"),
				"etc/hostname":         "img-builder\n",
				"etc/machine-id":       "0123456789abcdef0123456789abcdef\n",
				"run/reboot-required":  "",
				"var/lib/dpkg/unused":  "",
				"var/lib/dpkg/info/ok": "",
			},
			want:  Report{HostID: "0123456789abcdef0123456789abcdef", Hostname: "img-builder", Stream: "debian-12", Ecosystem: vercmp.Deb, Arch: "amd64", RebootRequired: true},
			count: 743,
		},
		{
			name: "distroless status.d",
			files: map[string]string{
				"etc/os-release":                    "ID=ubuntu\nVERSION_ID=\"24.04\"\n",
				"var/lib/dpkg/status.d/linux-image": readShared(t, "inventories/dpkg/syft.status.d-deinstall"),
			},
			want:  Report{HostID: "h", Stream: "ubuntu-24.04", Ecosystem: vercmp.Deb, Arch: "amd64"},
			count: 1,
		},
		{
			name: "alpine",
			files: map[string]string{
				"etc/os-release":       "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.16.2\n",
				"lib/apk/db/installed": readShared(t, "inventories/apk/syft.multiple-2.lib-apk-db-installed"),
			},
			want:  Report{HostID: "h", Stream: "alpine-3.16", Ecosystem: vercmp.APK, Arch: "x86_64"},
			count: 14,
		},
		{
			name: "mariner distroless manifest",
			files: map[string]string{
				"etc/os-release": "NAME=\"Common Base Linux Mariner\"\nVERSION=\"2.0.20220527\"\nID=mariner\nVERSION_ID=\"2.0\"\n",
				"var/lib/rpmmanifest/container-manifest-2": readShared(t, "inventories/rpm/syft.mariner-distroless.container-manifest-2"),
			},
			want:  Report{HostID: "h", Stream: "mariner-2.0", Ecosystem: vercmp.RPM, Arch: "x86_64"},
			count: 5,
		},
		{
			name:    "trivy apk with a stanza without version",
			files:   map[string]string{"etc/os-release": "ID=alpine\nVERSION_ID=3.20.1\n", "lib/apk/db/installed": readShared(t, "inventories/apk/trivy.testdata-apk.installed")},
			wantErr: ErrSyntax,
		},
		{
			name:    "no package database",
			files:   map[string]string{"etc/os-release": debian12OSRelease},
			wantErr: ErrNoPackageDB,
		},
		{
			name:    "rpm database without rpm",
			files:   map[string]string{"etc/os-release": "ID=rocky\nVERSION_ID=\"9.4\"\n", "var/lib/rpm/rpmdb.sqlite": ""},
			wantErr: ErrNoPackageDB,
		},
		{
			name:    "unknown os",
			files:   map[string]string{"etc/os-release": "ID=plan9\nVERSION_ID=4\n"},
			wantErr: ErrUnknownOS,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := writeRoot(t, tc.files)
			hostID := ""
			if tc.want.HostID == "h" {
				hostID = "h"
			}
			r, err := Collect(context.Background(), root, CollectOptions{HostID: hostID, Now: testNow, Labels: map[string]string{"ring": "canary"}})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Packages.Len() != tc.count {
				t.Errorf("%d packages, want %d", r.Packages.Len(), tc.count)
			}
			got := *r
			got.Packages, got.Labels, got.CollectedAt = nil, nil, time.Time{}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			if r.Labels["ring"] != "canary" || !r.CollectedAt.Equal(testNow) || r.Kernel != "" {
				t.Errorf("labels %v, time %v, kernel %q", r.Labels, r.CollectedAt, r.Kernel)
			}
		})
	}
}

// TestCollectRootConfined: a symbolic link that leaves the root is not
// followed, so an image's absolute os-release link cannot read the host's.
func TestCollectRootConfined(t *testing.T) {
	root := writeRoot(t, map[string]string{
		"usr/lib/os-release":   "ID=alpine\nVERSION_ID=3.20.0\n",
		"lib/apk/db/installed": readShared(t, "inventories/apk/syft.multiple-2.lib-apk-db-installed"),
	})
	outside := writeRoot(t, map[string]string{"os-release": debian12OSRelease})
	if err := os.Symlink(filepath.Join(outside, "os-release"), filepath.Join(root, "etc-os-release")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "os-release"), filepath.Join(root, "etc", "os-release")); err != nil {
		t.Fatal(err)
	}
	r, err := Collect(context.Background(), root, CollectOptions{HostID: "h", Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if r.Stream != "alpine-3.20" {
		t.Errorf("stream %q: the link out of the root was followed", r.Stream)
	}
}

func TestOSReleaseStream(t *testing.T) {
	for _, tc := range []struct {
		name, in, stream string
		eco              vercmp.Ecosystem
		err              error
	}{
		{"debian", debian12OSRelease, "debian-12", vercmp.Deb, nil},
		{"ubuntu", "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\n", "ubuntu-24.04", vercmp.Deb, nil},
		{"rhel minor dropped", "ID=\"rhel\"\nVERSION_ID=\"9.4\"\n", "rhel-9", vercmp.RPM, nil},
		{"rocky", "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n", "rocky-9", vercmp.RPM, nil},
		{"almalinux", "ID=almalinux\nVERSION_ID=8.10\n", "almalinux-8", vercmp.RPM, nil},
		{"centos", "ID=\"centos\"\nVERSION_ID=\"7\"\n", "centos-7", vercmp.RPM, nil},
		{"oracle", "ID=\"ol\"\nVERSION_ID=\"9.2\"\n", "ol-9", vercmp.RPM, nil},
		{"alpine patch dropped", "ID=alpine\nVERSION_ID=3.20.3\n", "alpine-3.20", vercmp.APK, nil},
		{"fedora", "ID=fedora\nVERSION_ID=40\n", "fedora-40", vercmp.RPM, nil},
		{"derivative by ID_LIKE", "ID=linuxlite\nID_LIKE=\"ubuntu debian\"\nVERSION_ID=\"7.0\"\n", "linuxlite-7.0", vercmp.Deb, nil},
		{"sid has no version", "ID=debian\nPRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\n", "", "", ErrUnknownOS},
		{"unknown", "ID=plan9\nVERSION_ID=4\n", "", "", ErrUnknownOS},
		{"malformed", "ID debian\n", "", "", ErrSyntax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseOSRelease([]byte(tc.in))
			var stream string
			var eco vercmp.Ecosystem
			if err == nil {
				stream, eco, err = o.Stream()
			}
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if stream != tc.stream || eco != tc.eco {
				t.Errorf("got %q %q, want %q %q", stream, eco, tc.stream, tc.eco)
			}
		})
	}
}

func TestKernelRebootRequired(t *testing.T) {
	k := func(name, version, arch string) Package { return Package{Name: name, Version: version, Arch: arch} }
	for _, tc := range []struct {
		name    string
		eco     vercmp.Ecosystem
		pkgs    []Package
		running string
		want    bool
	}{
		{"rpm newest runs", vercmp.RPM, []Package{k("kernel-core", "5.14.0-362.8.1.el9_3", "x86_64"), k("kernel-core", "5.14.0-284.11.1.el9_2", "x86_64")}, "5.14.0-362.8.1.el9_3.x86_64", false},
		{"rpm older runs", vercmp.RPM, []Package{k("kernel-core", "5.14.0-362.8.1.el9_3", "x86_64"), k("kernel-core", "5.14.0-284.11.1.el9_2", "x86_64")}, "5.14.0-284.11.1.el9_2.x86_64", true},
		{"rpm uek", vercmp.RPM, []Package{k("kernel-core", "5.14.0-284.11.1.el9_2", "x86_64"), k("kernel-uek-core", "5.15.0-200.131.27.el9uek", "x86_64")}, "5.15.0-200.131.27.el9uek.x86_64", false},
		{"rpm running kernel removed", vercmp.RPM, []Package{k("kernel", "3.10.0-1160.el7", "x86_64")}, "3.10.0-1062.el7.x86_64", true},
		{"rpm container", vercmp.RPM, []Package{k("bash", "5.1.8-6.el9", "x86_64")}, "6.1.0-28-amd64", false},
		{"apk current", vercmp.APK, []Package{k("linux-lts", "6.6.31-r0", "x86_64")}, "6.6.31-0-lts", false},
		{"apk upgraded", vercmp.APK, []Package{k("linux-lts", "6.6.32-r0", "x86_64")}, "6.6.31-0-lts", true},
		{"apk container", vercmp.APK, []Package{k("musl", "1.2.5-r0", "x86_64")}, "6.1.0-28-amd64", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := kernelRebootRequired(tc.eco, tc.pkgs, tc.running); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCollectRPM builds a real rpm package with rpmbuild, installs it into
// a fresh rpm database under a root, and collects that root through the rpm
// binary and RPMQueryFormat.
func TestCollectRPM(t *testing.T) {
	rpm, err1 := exec.LookPath("rpm")
	rpmbuild, err2 := exec.LookPath("rpmbuild")
	if err1 != nil || err2 != nil {
		t.Skip("rpm or rpmbuild not on PATH")
	}
	dir := t.TempDir()
	spec := filepath.Join(dir, "hello.spec")
	if err := os.WriteFile(spec, []byte("Name: hello-patchbay\nEpoch: 3\nVersion: 1.2.3\nRelease: 4.el9\nSummary: test\nLicense: MIT\nBuildArch: noarch\n%description\ntest\n%files\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	top := filepath.Join(dir, "top")
	run(rpmbuild, "--define", "_topdir "+top, "--define", "_build_id_links none", "-bb", spec)
	root := writeRoot(t, map[string]string{"etc/os-release": "ID=\"rocky\"\nVERSION_ID=\"9.4\"\n"})
	if err := os.MkdirAll(filepath.Join(root, "var/lib/rpm"), 0o755); err != nil {
		t.Fatal(err)
	}
	run(rpm, "--root", root, "--dbpath", "/var/lib/rpm", "--initdb")
	run(rpm, "--root", root, "--dbpath", "/var/lib/rpm", "-i", "--nodeps", "--noscripts", "--ignorearch", "--ignoreos",
		filepath.Join(top, "RPMS", "noarch", "hello-patchbay-1.2.3-4.el9.noarch.rpm"))

	r, err := Collect(context.Background(), root, CollectOptions{HostID: "rocky-img", Now: testNow, RPM: rpm})
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{{"hello-patchbay", "3:1.2.3-4.el9", "noarch", "hello-patchbay", "3:1.2.3-4.el9"}}
	if d := cmp.Diff(want, r.Packages.Packages()); d != "" || r.Stream != "rocky-9" || r.Ecosystem != vercmp.RPM {
		t.Errorf("stream %s %s; packages (-want +got):\n%s", r.Stream, r.Ecosystem, d)
	}

	// Without the rpm binary the same root has no readable database.
	if _, err := Collect(context.Background(), root, CollectOptions{HostID: "x", Now: testNow}); !errors.Is(err, ErrNoPackageDB) {
		t.Errorf("without rpm: got %v, want ErrNoPackageDB", err)
	}
	// An empty database is refused, not reported as a host without packages.
	empty := writeRoot(t, map[string]string{"etc/os-release": "ID=\"rocky\"\nVERSION_ID=\"9.4\"\n"})
	if err := os.MkdirAll(filepath.Join(empty, "var/lib/rpm"), 0o755); err != nil {
		t.Fatal(err)
	}
	run(rpm, "--root", empty, "--dbpath", "/var/lib/rpm", "--initdb")
	if _, err := Collect(context.Background(), empty, CollectOptions{HostID: "x", Now: testNow, RPM: rpm}); !errors.Is(err, ErrNoPackageDB) {
		t.Errorf("empty database: got %v, want ErrNoPackageDB", err)
	}
}
