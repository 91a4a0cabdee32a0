package plan

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/vercmp"
)

var genQuickstart = flag.Bool("gen-quickstart", false, "regenerate examples/quickstart/inventory from ../shared/testdata")

// pkgEdit changes one installed package (or adds it when absent).
type pkgEdit struct {
	name, version, sourceVersion string
}

// hostSpec describes one example host: which real package list it starts
// from and how it differs, so that together the hosts show every state.
type hostSpec struct {
	id, hostname, stream string
	labels               map[string]string
	base                 string // "debian", "oracle9", "ubuntu", "alpine"
	edits                []pkgEdit
	reboot               bool
	age                  time.Duration
	kernel               string
}

// ubuntuNoble is a small Ubuntu 24.04 package list (release and -updates
// versions of noble), for the ubuntu-24.04 example hosts.
var ubuntuNoble = []inventory.Package{
	{Name: "base-files", Version: "13ubuntu10.1", Arch: "amd64", SourceName: "base-files", SourceVersion: "13ubuntu10.1"},
	{Name: "bash", Version: "5.2.21-2ubuntu4", Arch: "amd64", SourceName: "bash", SourceVersion: "5.2.21-2ubuntu4"},
	{Name: "bsdutils", Version: "1:2.39.3-9ubuntu6.1", Arch: "amd64", SourceName: "util-linux", SourceVersion: "2.39.3-9ubuntu6.1"},
	{Name: "coreutils", Version: "9.4-3ubuntu6", Arch: "amd64", SourceName: "coreutils", SourceVersion: "9.4-3ubuntu6"},
	{Name: "libc6", Version: "2.39-0ubuntu8.3", Arch: "amd64", SourceName: "glibc", SourceVersion: "2.39-0ubuntu8.3"},
	{Name: "libssl3t64", Version: "3.0.13-0ubuntu3.4", Arch: "amd64", SourceName: "openssl", SourceVersion: "3.0.13-0ubuntu3.4"},
	{Name: "openssl", Version: "3.0.13-0ubuntu3.4", Arch: "amd64", SourceName: "openssl", SourceVersion: "3.0.13-0ubuntu3.4"},
	{Name: "openssh-client", Version: "1:9.6p1-3ubuntu13", Arch: "amd64", SourceName: "openssh", SourceVersion: "1:9.6p1-3ubuntu13"},
	{Name: "openssh-server", Version: "1:9.6p1-3ubuntu13", Arch: "amd64", SourceName: "openssh", SourceVersion: "1:9.6p1-3ubuntu13"},
	{Name: "openssh-sftp-server", Version: "1:9.6p1-3ubuntu13", Arch: "amd64", SourceName: "openssh", SourceVersion: "1:9.6p1-3ubuntu13"},
	{Name: "sudo", Version: "1.9.15p5-3ubuntu5", Arch: "amd64", SourceName: "sudo", SourceVersion: "1.9.15p5-3ubuntu5"},
	{Name: "systemd", Version: "255.4-1ubuntu8.4", Arch: "amd64", SourceName: "systemd", SourceVersion: "255.4-1ubuntu8.4"},
	{Name: "tzdata", Version: "2024a-3ubuntu1.1", Arch: "all", SourceName: "tzdata", SourceVersion: "2024a-3ubuntu1.1"},
	{Name: "util-linux", Version: "2.39.3-9ubuntu6.1", Arch: "amd64", SourceName: "util-linux", SourceVersion: "2.39.3-9ubuntu6.1"},
	{Name: "zlib1g", Version: "1:1.3.dfsg-3.1ubuntu2", Arch: "amd64", SourceName: "zlib", SourceVersion: "1:1.3.dfsg-3.1ubuntu2"},
}

// alpine320 is an Alpine 3.20 base image's package list.
var alpine320 = []inventory.Package{
	{Name: "alpine-baselayout", Version: "3.6.5-r0", Arch: "x86_64", SourceName: "alpine-baselayout", SourceVersion: "3.6.5-r0"},
	{Name: "alpine-baselayout-data", Version: "3.6.5-r0", Arch: "x86_64", SourceName: "alpine-baselayout", SourceVersion: "3.6.5-r0"},
	{Name: "alpine-keys", Version: "2.4-r1", Arch: "x86_64", SourceName: "alpine-keys", SourceVersion: "2.4-r1"},
	{Name: "apk-tools", Version: "2.14.4-r1", Arch: "x86_64", SourceName: "apk-tools", SourceVersion: "2.14.4-r1"},
	{Name: "busybox", Version: "1.36.1-r29", Arch: "x86_64", SourceName: "busybox", SourceVersion: "1.36.1-r29"},
	{Name: "busybox-binsh", Version: "1.36.1-r29", Arch: "x86_64", SourceName: "busybox", SourceVersion: "1.36.1-r29"},
	{Name: "ca-certificates-bundle", Version: "20240705-r0", Arch: "x86_64", SourceName: "ca-certificates", SourceVersion: "20240705-r0"},
	{Name: "libcrypto3", Version: "3.3.2-r1", Arch: "x86_64", SourceName: "openssl", SourceVersion: "3.3.2-r1"},
	{Name: "libssl3", Version: "3.3.2-r1", Arch: "x86_64", SourceName: "openssl", SourceVersion: "3.3.2-r1"},
	{Name: "musl", Version: "1.2.5-r0", Arch: "x86_64", SourceName: "musl", SourceVersion: "1.2.5-r0"},
	{Name: "musl-utils", Version: "1.2.5-r0", Arch: "x86_64", SourceName: "musl", SourceVersion: "1.2.5-r0"},
	{Name: "scanelf", Version: "1.3.7-r2", Arch: "x86_64", SourceName: "pax-utils", SourceVersion: "1.3.7-r2"},
	{Name: "ssl_client", Version: "1.36.1-r29", Arch: "x86_64", SourceName: "busybox", SourceVersion: "1.36.1-r29"},
	{Name: "zlib", Version: "1.3.1-r1", Arch: "x86_64", SourceName: "zlib", SourceVersion: "1.3.1-r1"},
}

var quickstartHosts = []hostSpec{
	// canary (2026-11-hotfix-1)
	{id: "deb12-canary-01", hostname: "deb12-canary-01.fra1", stream: "debian-12", labels: map[string]string{"site": "fra1"}, base: "debian", kernel: "6.1.0-41-amd64"},
	{id: "deb12-canary-02", hostname: "deb12-canary-02.fra1", stream: "debian-12", labels: map[string]string{"ring": "canary", "site": "fra1"}, base: "debian", reboot: true, kernel: "6.1.0-40-amd64",
		edits: []pkgEdit{{"libgnutls30", "3.7.9-2+deb12u5", "3.7.9-2+deb12u5"}}},
	{id: "ubuntu-canary-01", hostname: "ubuntu-canary-01.ams2", stream: "ubuntu-24.04", labels: map[string]string{"site": "ams2"}, base: "ubuntu", kernel: "6.8.0-1012-aws"},
	{id: "rhel9-canary-01", hostname: "rhel9-canary-01.fra1", stream: "rhel-9", labels: map[string]string{"ring": "canary", "site": "fra1"}, base: "oracle9", kernel: "5.14.0-284.11.1.el9_2.x86_64"},
	{id: "alpine-canary-01", hostname: "alpine-canary-01.ams2", stream: "alpine-3.20", labels: map[string]string{"ring": "canary", "site": "ams2"}, base: "alpine"},
	// pilot (2026-11)
	{id: "deb12-pilot-01", hostname: "deb12-pilot-01.fra1", stream: "debian-12", labels: map[string]string{"ring": "pilot", "site": "fra1"}, base: "debian", kernel: "6.1.0-41-amd64",
		edits: []pkgEdit{{"libssl3", "3.0.17-1~deb12u3", "3.0.17-1~deb12u3"}, {"openssl", "3.0.17-1~deb12u3", ""}, {"git", "1:2.39.5-0+deb12u1", "1:2.39.5-0+deb12u1"}, {"git-man", "1:2.39.5-0+deb12u1", "1:2.39.5-0+deb12u1"}}},
	{id: "deb12-pilot-02", hostname: "deb12-pilot-02.fra1", stream: "debian-12", labels: map[string]string{"ring": "pilot", "site": "fra1"}, base: "debian", age: 10 * 24 * time.Hour, kernel: "6.1.0-41-amd64"},
	{id: "ubuntu-pilot-01", hostname: "ubuntu-pilot-01.ams2", stream: "ubuntu-24.04", labels: map[string]string{"ring": "pilot", "site": "ams2"}, base: "ubuntu", kernel: "6.8.0-1012-aws",
		edits: []pkgEdit{{"openssh-client", "1:9.6p1-3ubuntu13.5", "1:9.6p1-3ubuntu13.5"}, {"openssh-server", "1:9.6p1-3ubuntu13.5", "1:9.6p1-3ubuntu13.5"}, {"openssh-sftp-server", "1:9.6p1-3ubuntu13.5", "1:9.6p1-3ubuntu13.5"}}},
	{id: "rhel9-pilot-01", hostname: "rhel9-pilot-01.fra1", stream: "rhel-9", labels: map[string]string{"ring": "pilot", "site": "fra1"}, base: "oracle9", kernel: "5.14.0-284.11.1.el9_2.x86_64",
		edits: []pkgEdit{{"openssl", "1:3.0.7-18.0.1.el9_2", "1:3.0.7-18.0.1.el9_2"}, {"openssl-libs", "1:3.0.7-18.0.1.el9_2", "1:3.0.7-18.0.1.el9_2"}}},
	// prod (2026-10)
	{id: "deb12-prod-01", hostname: "deb12-prod-01.fra1", stream: "debian-12", labels: map[string]string{"env": "production", "site": "fra1"}, base: "debian", kernel: "6.1.0-41-amd64"},
	{id: "deb12-prod-02", hostname: "deb12-prod-02.ams2", stream: "debian-12", labels: map[string]string{"env": "production", "site": "ams2"}, base: "debian", kernel: "6.1.0-37-amd64",
		// bsdutils carries an epoch its source util-linux lacks: the source
		// rule must compare 2.38.1-5+deb12u1 (below the floor), not 1:2.38.1-5+deb12u1.
		edits: []pkgEdit{{"bsdutils", "1:2.38.1-5+deb12u1", "2.38.1-5+deb12u1"}, {"util-linux", "2.38.1-5+deb12u1", "2.38.1-5+deb12u1"}, {"mount", "2.38.1-5+deb12u1", "2.38.1-5+deb12u1"}, {"libblkid1", "2.38.1-5+deb12u1", "2.38.1-5+deb12u1"}, {"libmount1", "2.38.1-5+deb12u1", "2.38.1-5+deb12u1"}, {"libsmartcols1", "2.38.1-5+deb12u1", "2.38.1-5+deb12u1"}, {"libuuid1", "2.38.1-5+deb12u1", "2.38.1-5+deb12u1"}, {"util-linux-extra", "2.38.1-5+deb12u1", "2.38.1-5+deb12u1"}, {"bsdextrautils", "2.38.1-5+deb12u1", "2.38.1-5+deb12u1"}, {"uuid-dev", "2.38.1-5+deb12u1", "2.38.1-5+deb12u1"}, {"libfdisk1", "2.38.1-5+deb12u1", "2.38.1-5+deb12u1"}}},
	{id: "rhel9-prod-billing-01", hostname: "rhel9-prod-billing-01.fra1", stream: "rhel-9", labels: map[string]string{"env": "production", "site": "fra1", "team": "billing"}, base: "oracle9", kernel: "5.14.0-284.11.1.el9_2.x86_64",
		edits: []pkgEdit{{"openssl", "1:3.0.7-16.0.1.el9_2", "1:3.0.7-16.0.1.el9_2"}, {"openssl-libs", "1:3.0.7-16.0.1.el9_2", "1:3.0.7-16.0.1.el9_2"}}},
	{id: "alpine-prod-01", hostname: "alpine-prod-01.ams2", stream: "alpine-3.20", labels: map[string]string{"env": "production", "site": "ams2"}, base: "alpine"},
	// misconfigured hosts
	{id: "deb12-lab-01", hostname: "deb12-lab-01.fra1", stream: "debian-12", labels: map[string]string{"site": "fra1"}, base: "debian", kernel: "6.1.0-41-amd64"},
	{id: "deb12-mixed-01", hostname: "deb12-mixed-01.ams2", stream: "debian-12", labels: map[string]string{"ring": "pilot", "env": "production", "site": "ams2"}, base: "debian", kernel: "6.1.0-41-amd64"},
}

// quickstartCollected is when the example reports were collected.
var quickstartCollected = time.Date(2026, 11, 25, 21, 30, 0, 0, time.UTC)

// TestGenQuickstartInventory regenerates examples/quickstart/inventory from
// the real package lists in ../shared/testdata (run with -gen-quickstart).
func TestGenQuickstartInventory(t *testing.T) {
	if !*genQuickstart {
		t.Skip("run with -gen-quickstart to regenerate examples/quickstart/inventory")
	}
	bases := map[string][]inventory.Package{"ubuntu": ubuntuNoble, "alpine": alpine320}
	read := func(rel string, parse func(*os.File) ([]inventory.Package, error)) []inventory.Package {
		f, err := os.Open(fixture.Shared(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		pkgs, err := parse(f)
		if err != nil {
			t.Fatal(err)
		}
		return pkgs
	}
	bases["debian"] = read("inventories/dpkg/debian12-bookworm.status", func(f *os.File) ([]inventory.Package, error) { return inventory.ParseDpkgStatus(f) })
	ol := read("inventories/rpm/go-rpmdb.oraclelinux9-plain.rpm-qa-queryformat.txt", func(f *os.File) ([]inventory.Package, error) { return inventory.ParseRPMQuery(f) })
	var real []inventory.Package
	for _, p := range ol {
		if p.Name != "gpg-pubkey" { // pseudo-packages carry no payload
			real = append(real, p)
		}
	}
	bases["oracle9"] = real

	dir := fixture.Path(t, "examples/quickstart/inventory")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range old {
		os.Remove(f)
	}
	for _, h := range quickstartHosts {
		pkgs := append([]inventory.Package(nil), bases[h.base]...)
		for _, e := range h.edits {
			found := false
			for i := range pkgs {
				if pkgs[i].Name == e.name {
					found = true
					pkgs[i].Version = e.version
					if e.sourceVersion != "" {
						pkgs[i].SourceVersion = e.sourceVersion
					} else if pkgs[i].SourceName == pkgs[i].Name {
						pkgs[i].SourceVersion = e.version
					}
				}
			}
			if !found {
				t.Fatalf("%s: no package %s in %s", h.id, e.name, h.base)
			}
		}
		eco, _ := inventory.EcosystemOfStream(h.stream)
		if h.base == "oracle9" {
			eco = vercmp.RPM
		}
		set, err := inventory.NewPackageSet(eco, pkgs)
		if err != nil {
			t.Fatalf("%s: %v", h.id, err)
		}
		arch := map[vercmp.Ecosystem]string{vercmp.Deb: "amd64", vercmp.RPM: "x86_64", vercmp.APK: "x86_64"}[eco]
		r := &inventory.Report{HostID: h.id, Hostname: h.hostname, Stream: h.stream, Ecosystem: eco, Labels: h.labels,
			Arch: arch, Kernel: h.kernel, RebootRequired: h.reboot, CollectedAt: quickstartCollected.Add(-h.age),
			AgentVersion: "patchbay-example", Packages: set}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("%s: %v", h.id, err)
		}
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			t.Fatal(err)
		}
		out.WriteString("\n")
		if err := os.WriteFile(filepath.Join(dir, h.id+".json"), out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d reports to %s", len(quickstartHosts), strings.TrimPrefix(dir, fixture.Root(t)+"/"))
}
