package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/inventory"
)

// The end-to-end test's hosts are real patchbay-agent processes. Each has a
// root directory built from a quickstart inventory (etc/os-release,
// etc/hostname, var/lib/dpkg/status) that it collects with --root, and runs
// apt-get with --pm-arg=-o --pm-arg=Dir=ROOT, as one would point the real
// apt at a mounted image. The apt-get it finds on PATH is fakeAptGet: a
// strict stand-in that accepts only the command lines the agent's apt
// executor builds, and installs a package version only when the root's
// archive (ROOT/archive, "name version" lines) holds it — by editing the
// root's dpkg status, which the agent then collects to judge the step.

// fakeAptGet is the apt-get the agents run.
const fakeAptGet = `#!/bin/sh
# A strict apt-get for the end-to-end test: see e2e_agent_test.go.
set -eu
root= cmd= pkgs=
while [ $# -gt 0 ]; do
	case "$1" in
	-o)
		shift
		case "$1" in
		Dir=*) root=${1#Dir=} ;;
		Dpkg::Options::=--force-confold | Dpkg::Options::=--force-confdef | APT::Update::Error-Mode=any) ;;
		*) echo "E: fake apt-get: unexpected option -o $1" >&2; exit 100 ;;
		esac ;;
	-y | -q | --only-upgrade | --allow-downgrades) ;;
	update | install) [ -z "$cmd" ] || { echo "E: fake apt-get: two commands" >&2; exit 100; }; cmd=$1 ;;
	-*) echo "E: fake apt-get: unexpected flag $1" >&2; exit 100 ;;
	*) [ "$cmd" = install ] || { echo "E: fake apt-get: $1 before install" >&2; exit 100; }; pkgs="$pkgs $1" ;;
	esac
	shift
done
[ -n "$root" ] && [ -f "$root/var/lib/dpkg/status" ] || { echo "E: fake apt-get: no -o Dir=ROOT with a dpkg status" >&2; exit 100; }
[ "${DEBIAN_FRONTEND:-}" = noninteractive ] || { echo "E: fake apt-get: DEBIAN_FRONTEND is not noninteractive" >&2; exit 100; }
echo "fake apt-get $cmd$pkgs" >>"$root/apt.log"
case "$cmd" in
update) exit 0 ;;
install) [ -n "$pkgs" ] || { echo "E: fake apt-get: install of nothing" >&2; exit 100; } ;;
*) echo "E: fake apt-get: no command" >&2; exit 100 ;;
esac
# Resolve every request against the archive first: all or nothing, as apt.
plan=
for p in $pkgs; do
	case "$p" in
	*=*) n=${p%%=*} v=${p#*=}
		grep -qxF "$n $v" "$root/archive" || { echo "E: Version '$v' for '$n' was not found" >&2; exit 100; } ;;
	*) n=$p v=$(awk -v n="$n" '$1 == n { v = $2 } END { print v }' "$root/archive")
		[ -n "$v" ] || { echo "E: Unable to locate package $n" >&2; exit 100; } ;;
	esac
	plan="$plan $n=$v"
done
for p in $plan; do
	n=${p%%=*} v=${p#*=}
	awk -v n="$n" -v v="$v" 'BEGIN { RS = ""; FS = "\n"; OFS = "\n"; ORS = "\n\n" }
		{ mine = 0; for (i = 1; i <= NF; i++) if ($i == "Package: " n) mine = 1
		  if (mine) { for (i = 1; i <= NF; i++) { if ($i ~ /^Version: /) $i = "Version: " v; if ($i ~ /^Source: /) sub(/ \(.*\)$/, "", $i) }; found = 1 }
		  print }
		END { if (!found) printf "Package: %s\nStatus: install ok installed\nArchitecture: amd64\nVersion: %s\n\n", n, v }' \
		"$root/var/lib/dpkg/status" >"$root/var/lib/dpkg/status.new"
	mv "$root/var/lib/dpkg/status.new" "$root/var/lib/dpkg/status"
	echo "Setting up $n ($v) ..."
done
`

// agentHost is one host of the end-to-end test: its root and its agent.
type agentHost struct {
	id, root, state string
}

// newAgentHost builds the root of the quickstart inventory host id under
// dir: os-release for its stream, its hostname, its packages as a dpkg
// status database.
func newAgentHost(t *testing.T, dir, inventory, id string) *agentHost {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(inventory, id+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Hostname string `json:"hostname"`
		Stream   string `json:"stream"`
		Packages []struct {
			Name, Version, Arch, SourceName, SourceVersion string
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	distro, version, ok := strings.Cut(rep.Stream, "-")
	if !ok {
		t.Fatalf("%s: stream %q", id, rep.Stream)
	}
	var status strings.Builder
	for _, p := range rep.Packages {
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nArchitecture: %s\n", p.Name, p.Arch)
		switch {
		case p.SourceName != "" && p.SourceVersion != "" && p.SourceVersion != p.Version:
			fmt.Fprintf(&status, "Source: %s (%s)\n", p.SourceName, p.SourceVersion)
		case p.SourceName != "" && p.SourceName != p.Name:
			fmt.Fprintf(&status, "Source: %s\n", p.SourceName)
		}
		fmt.Fprintf(&status, "Version: %s\n\n", p.Version)
	}
	h := &agentHost{id: id, root: filepath.Join(dir, "hosts", id, "root"), state: filepath.Join(dir, "hosts", id, "state")}
	for name, content := range map[string]string{
		"etc/os-release":       fmt.Sprintf("ID=%s\nVERSION_ID=%q\n", distro, version),
		"etc/hostname":         rep.Hostname + "\n",
		"var/lib/dpkg/status":  status.String(),
		"etc/patchbay-boot-id": "boot-0\n",
		"archive":              "",
	} {
		p := filepath.Join(h.root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// writeArchive fills the host's archive: the versions installed now, and
// every fixed version a rule of the plan (patchbay plan --format json)
// names for a package the host has — what the distribution's archive
// would offer.
func (h *agentHost) writeArchive(t *testing.T, planJSON []byte) {
	t.Helper()
	var pl struct {
		Hosts []struct {
			ID      string `json:"id"`
			Results []struct {
				Rule struct {
					Min string `json:"min"`
					Pin string `json:"pin"`
				} `json:"rule"`
				State     string `json:"state"`
				Installed []struct {
					Package string `json:"package"`
					Version string `json:"version"`
				} `json:"installed"`
			} `json:"results"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal(planJSON, &pl); err != nil {
		t.Fatal(err)
	}
	// Per package: the installed version first, then the fixed ones; the
	// fake's candidate is a package's last line.
	var order []string
	versions := map[string][]string{}
	add := func(pkg, v string) {
		if v == "" || slices.Contains(versions[pkg], v) {
			return
		}
		if versions[pkg] == nil {
			order = append(order, pkg)
		}
		versions[pkg] = append(versions[pkg], v)
	}
	for _, ph := range pl.Hosts {
		if ph.ID != h.id {
			continue
		}
		for _, r := range ph.Results {
			for _, in := range r.Installed {
				add(in.Package, in.Version)
				add(in.Package, r.Rule.Min)
				add(in.Package, r.Rule.Pin)
				if r.State == "BLOCKED_VERSION" {
					add(in.Package, in.Version+"+fix1") // the recall's replacement
				}
			}
		}
	}
	if len(order) == 0 {
		t.Fatalf("the plan has no results for %s", h.id)
	}
	var out []string
	for _, pkg := range order {
		for _, v := range versions[pkg] {
			out = append(out, pkg+" "+v)
		}
	}
	if err := os.WriteFile(filepath.Join(h.root, "archive"), []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// agentArgs are the flags that point a patchbay-agent at the host's root.
func (h *agentHost) agentArgs() []string {
	return []string{"--root", h.root, "--state-dir", h.state}
}

// runArgs are `patchbay-agent run`'s flags: apt pointed at the root, a
// reboot that only changes the root's boot id.
func (h *agentHost) runArgs() []string {
	bootID := filepath.Join(h.root, "etc/patchbay-boot-id")
	return append(h.agentArgs(), "--executor", "apt", "--pm-arg=-o", "--pm-arg=Dir="+h.root, "--interval", "500ms",
		"--boot-id-file", bootID, "--reboot-command", "echo boot-$$ >"+bootID, "--health-timeout", "5s", "--refresh-timeout", "30s")
}

// buildAgent builds patchbay-agent into dir and writes fakeAptGet to
// dir/fakebin; it returns the agent binary and the fake's directory.
func buildAgent(t *testing.T, dir string) (string, string) {
	t.Helper()
	bin := filepath.Join(dir, "patchbay-agent")
	if out, err := exec.Command("go", "build", "-o", bin, "../patchbay-agent").CombinedOutput(); err != nil {
		t.Fatalf("go build patchbay-agent: %v\n%s", err, out)
	}
	fake := filepath.Join(dir, "fakebin")
	if err := os.MkdirAll(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fake, "apt-get"), []byte(fakeAptGet), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, fake
}

// TestFakeAptGet checks the end-to-end test's stand-in: it refuses what
// apt would refuse (a version the archive lacks, an unknown option, no
// root) and changes nothing then; it installs what the archive holds, and
// the change is what inventory collection of the root sees.
func TestFakeAptGet(t *testing.T) {
	if _, err := exec.LookPath("awk"); err != nil {
		t.Skip("no awk")
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "apt-get")
	if err := os.WriteFile(fake, []byte(fakeAptGet), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newAgentHost(t, dir, filepath.Join("..", "..", "examples", "quickstart", "inventory"), "deb12-canary-02")
	if err := os.WriteFile(filepath.Join(h.root, "archive"), []byte("openssh-client 1:9.2p1-2+deb12u3\nopenssh-server 1:9.2p1-2+deb12u3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	version := func(name string) string {
		t.Helper()
		r, err := inventory.Collect(context.Background(), h.root, inventory.CollectOptions{HostID: h.id, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if r.Stream != "debian-12" {
			t.Fatalf("stream %q", r.Stream)
		}
		for _, p := range r.Packages.Packages() {
			if p.Name == name {
				return p.Version
			}
		}
		return ""
	}
	before := version("openssh-client")
	apt := func(args ...string) error {
		cmd := exec.Command(fake, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		t.Logf("apt-get %s: %v\n%s", strings.Join(args, " "), err, out)
		return err
	}
	dirOpt := "Dir=" + h.root
	for _, bad := range [][]string{
		{"-o", dirOpt, "install", "-y", "openssh-client=1:9.9"},
		{"-o", dirOpt, "install", "-y", "--reinstall", "openssh-client=1:9.2p1-2+deb12u3"},
		{"install", "-y", "openssh-client=1:9.2p1-2+deb12u3"},
		{"-o", dirOpt, "install", "-y", "openssh-client=1:9.2p1-2+deb12u3", "openssh-sftp-server=1:9.2p1-2+deb12u3"},
	} {
		if apt(bad...) == nil {
			t.Errorf("apt-get %v succeeded", bad)
		}
	}
	if got := version("openssh-client"); got != before {
		t.Fatalf("a refused install changed openssh-client: %s -> %s", before, got)
	}
	if err := apt("-o", dirOpt, "install", "-y", "-o", "Dpkg::Options::=--force-confold", "--only-upgrade", "openssh-client=1:9.2p1-2+deb12u3", "openssh-server"); err != nil {
		t.Fatal(err)
	}
	if got := version("openssh-client"); got != "1:9.2p1-2+deb12u3" {
		t.Errorf("openssh-client after install: %s", got)
	}
	if got := version("openssh-server"); got != "1:9.2p1-2+deb12u3" {
		t.Errorf("openssh-server after install (the archive's candidate): %s", got)
	}
}
