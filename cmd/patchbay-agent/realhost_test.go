package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/agent"
)

// The real-host tests run the real patchbay-agent binary against a real
// `patchbay serve` on real package managers. They are slow and need root
// and the package managers' tools; .ci/run installs those with apt-get.
// Without them the tests skip and say what is missing.

// need skips t unless every tool is on PATH and the test runs as root;
// install says how to get the tools.
func need(t *testing.T, install string, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("real package-manager test: skipped in -short mode")
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("real package-manager test: needs root on Linux (chroot, package databases in root file systems); .ci/run runs it")
	}
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Skipf("real package-manager test: %s not installed (%s; .ci/run does)", strings.Join(missing, ", "), install)
	}
}

// cacheDir is where slow fixtures (the Debian root tarball, apk-tools) are kept
// between runs, outside the repository: $PATCHBAY_TEST_CACHE, else the
// user cache directory.
func cacheDir(t *testing.T) string {
	d := os.Getenv("PATCHBAY_TEST_CACHE")
	if d == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		d = filepath.Join(base, "patchbay-test")
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func sh(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// story is one package manager's version of the real-host story: a library
// and its tool (foo-tool, which needs the library at exactly its own
// version), both from source package foo, at three versions.
type story struct {
	stream    string // the hosts' stream, from their os-release
	ecosystem string
	lib       string    // the library package (foo-tool depends on it)
	versions  [3]string // what hosts run first, what canary gets, what appears after verification
	// rebootPolicy is the rings' reboot policy: "if-required" where the
	// package asks for a reboot the collector sees (deb's
	// /run/reboot-required), "always" where a root has no such signal.
	rebootPolicy string
	// build returns the library's and the tool's package files at version.
	build func(t *testing.T, version string) []string
	// newHost makes a root whose repository holds pkgs (the first
	// version), installs the tool from it, and says how the agent runs
	// there.
	newHost func(t *testing.T, id, agentBin string, pkgs []string) host
	// publish adds packages to the host's repository and rewrites its index.
	publish func(t *testing.T, h host, pkgs []string)
	// version is the installed version of pkg, as the package manager's
	// own query tool says.
	version func(t *testing.T, h host, pkg string) string
	// What the agent runs and the tools print (regular expressions for
	// moved): the refresh, canary's transaction of the candidates, pilot's
	// transaction of the tested set, a package moving between versions.
	refresh, canaryTx, pilotTx string
	moved                      func(pkg, from, to string) string
	// world, when set, is the package manager's record of what the
	// operator asked for (apk's world file): patching and rolling back
	// must leave it as it was, with no version pinned.
	world func(h host) string
}

// host is a root file system with an enrolled agent.
type host struct {
	id, root string
	// inside: the agent runs inside the root (unshare + chroot), as apt
	// needs; otherwise it runs on this machine with --root.
	inside bool
	// bin is the agent's path as the agent's process sees it; flags are
	// its executor's flags; path is prepended to PATH outside the root.
	bin   string
	flags []string
	path  string
	// home is $HOME outside the root (default: this user's).
	home string
}

// at is a path of the root as the agent sees it.
func (h host) at(p string) string {
	if h.inside {
		return p
	}
	return h.root + p
}

// run runs a command as the agent would: inside the root (chroot in a new
// mount namespace) or on this machine.
func (h host) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := h.try(args...)
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", h.id, strings.Join(args, " "), err, out)
	}
	return out
}

func (h host) try(args ...string) (string, error) {
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	if h.inside {
		args = append([]string{"unshare", "--mount", "--fork", "chroot", h.root}, args...)
	} else if h.path != "" {
		path = h.path + ":" + path
		if p := filepath.Join(h.path, args[0]); !strings.Contains(args[0], "/") && exists(p) {
			args = append([]string{p}, args[1:]...) // exec looks names up in this process's PATH
		}
	}
	cmd := exec.Command(args[0], args[1:]...)
	home := os.Getenv("HOME")
	if h.home != "" {
		home = h.home
	}
	cmd.Env = []string{"PATH=" + path, "LANG=C", "HOME=" + home}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// enroll writes the host's name and first boot id and enrolls its agent.
func (h host) enroll(t *testing.T, server, token string) {
	t.Helper()
	write(t, filepath.Join(h.root, "etc/hostname"), h.id+"\n", 0o644)
	write(t, filepath.Join(h.root, "etc/boot-id"), "boot-0\n", 0o644)
	args := []string{h.bin, "enroll", "--server", server, "--token", token, "--state-dir", h.at("/var/lib/patchbay"), "--host-id", h.id}
	if !h.inside {
		args = append(args, "--root", h.root)
	}
	h.run(t, args...)
}

// rebootCmd is the test reboot: it clears the root's /run (as a restart
// does) and writes a new boot id.
func (h host) rebootCmd() string {
	return fmt.Sprintf(`rm -f %[1]s/run/reboot-required %[1]s/var/run/reboot-required; echo "boot-$(date +%%s%%N)" > %[1]s/etc/boot-id`, h.at(""))
}

// agent runs `patchbay-agent run --once` with extra flags.
func (h host) agent(t *testing.T, extra ...string) (string, error) {
	t.Helper()
	args := append([]string{h.bin, "run", "--once", "--state-dir", h.at("/var/lib/patchbay"),
		"--reboot-command", h.rebootCmd(), "--boot-id-file", h.at("/etc/boot-id"), "--health-timeout", "2s"}, h.flags...)
	args = append(args, extra...)
	start := time.Now()
	out, err := h.try(args...)
	t.Logf("%s$ patchbay-agent run --once %s  (%s)\n%s", h.id, strings.Join(extra, " "), time.Since(start).Round(time.Millisecond), out)
	return out, err
}

// agentUntil runs the agent until its output contains want.
func (h host) agentUntil(t *testing.T, want string, extra ...string) string {
	t.Helper()
	var out string
	for range 40 {
		out, _ = h.agent(t, extra...)
		if strings.Contains(out, want) {
			return out
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("%s: agent output never contained %q; last:\n%s", h.id, want, out)
	return ""
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func patchRepoConfig(s story) string {
	return fmt.Sprintf(`package patchbay

config: {
	streams: %q: {ecosystem: %q, description: "the real-host test's roots"}
	rings: ["canary", "pilot"]
	sla: {critical: 15, high: 30, medium: 90, low: 180, kev: 14}
	approvers: sre: ["sre-lead", "sre-oncall"]
	reports: staleAfter: "72h"
	exceptions: maxDays: 90
}
`, s.stream, s.ecosystem)
}

func baselineB0(s story) string {
	return fmt.Sprintf(`package patchbay

baselines: "b0": {
	created: "2026-11-01"
	summary: "nothing yet"
	streams: %q: packages: bash: {min: "5.0", severity: "low"}
}
`, s.stream)
}

func baselineB1(s story) string {
	return fmt.Sprintf(`package patchbay

baselines: "b1": {
	created: "2026-11-20"
	summary: "foo %s: library and tool move together"
	extends: "b0"
	streams: %q: sources: foo: {min: %q, severity: "high", reboot: true}
}
`, s.versions[1], s.stream, s.versions[1])
}

func ringFile(name, baseline, hosts, reboot, extra string) string {
	return fmt.Sprintf(`package patchbay

rings: %s: {
	selector: hosts: [%s]
	baseline: %q
	strategy: {maxConcurrency: 2, maxErrors: 1%s}
	soak:             "0m"
	successThreshold: 0.5
	reboot:           %q
	approvals: {required: 1, groups: ["sre"]}
}
`, name, hosts, baseline, extra, reboot)
}

// runStory is the real-host story on one package manager: the tested set,
// one transaction, a reboot and a health check failure with rollback.
//
//  1. canary-1 takes baseline b1 (source foo >= the second version): one
//     refresh, one transaction of the library and foo-tool (which depends
//     on the library at exactly its own version); the ring's policy (or
//     the deb package's postinst) asks for a reboot, the agent reboots (test
//     reboot command, boot id file changes) and reports the reboot after
//     the "restart". The canary ring is verified and its ring.verified
//     names the tested set: both packages at the second version.
//  2. The third version, which canary never saw, is published.
//  3. pilot takes b1: pilot-1 installs exactly the tested version (not the
//     candidate) and reboots; pilot-2's health check fails, so the step
//     fails and its packages are rolled back to the first version
//     (strategy.rollback on-failure).
func runStory(t *testing.T, s story) {
	patchbay, agentBin := buildBinaries(t)
	v0, v1, v2 := s.versions[0], s.versions[1], s.versions[2]
	pkgs0, pkgs1, pkgs2 := s.build(t, v0), s.build(t, v1), s.build(t, v2)

	// The patch repository: canary and pilot both on b0.
	repo := t.TempDir()
	sh(t, repo, "git", "init", "-q", "-b", "main")
	sh(t, repo, "git", "config", "user.email", "sre@patchbay.invalid")
	sh(t, repo, "git", "config", "user.name", "sre-lead")
	write(t, filepath.Join(repo, "patchbay.cue"), patchRepoConfig(s), 0o644)
	write(t, filepath.Join(repo, "baselines/b0.cue"), baselineB0(s), 0o644)
	write(t, filepath.Join(repo, "baselines/b1.cue"), baselineB1(s), 0o644)
	write(t, filepath.Join(repo, "rings/canary.cue"), ringFile("canary", "b0", `"canary-1"`, s.rebootPolicy, ""), 0o644)
	write(t, filepath.Join(repo, "rings/pilot.cue"), ringFile("pilot", "b0", `"pilot-1", "pilot-2"`, s.rebootPolicy, `, rollback: "on-failure"`), 0o644)
	sh(t, repo, "git", "add", "-A")
	sh(t, repo, "git", "commit", "-q", "-m", "canary and pilot on b0")
	sh(t, "", patchbay, "validate", "-C", repo)

	db := "sqlite://" + filepath.Join(t.TempDir(), "patchbay.db")
	enroll := firstLine(sh(t, "", patchbay, "token", "create", "--enroll", "--uses", "3", "--reason", "real-host test", "--db", db))
	admin := firstLine(sh(t, "", patchbay, "token", "create", "--admin", "--name", "test", "--reason", "real-host test", "--db", db))
	port := freePort(t)
	server := fmt.Sprintf("http://127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	srv := exec.CommandContext(ctx, patchbay, "serve", "-C", repo, "--db", db, "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--tick", "200ms", "--interval", "200ms", "--rate", "-1")
	var srvLog bytes.Buffer
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = srv.Wait()
		if t.Failed() {
			t.Logf("patchbay serve log:\n%s", tail(srvLog.String(), 6000))
		}
	})
	waitReady(t, server)

	var hosts []host
	for _, id := range []string{"canary-1", "pilot-1", "pilot-2"} {
		h := s.newHost(t, id, agentBin, pkgs0)
		s.publish(t, h, pkgs1)
		h.enroll(t, server, enroll)
		hosts = append(hosts, h)
	}
	canary, pilot1, pilot2 := hosts[0], hosts[1], hosts[2]
	runs := func(h host) string { return s.version(t, h, s.lib) + " " + s.version(t, h, "foo-tool") }
	worlds := map[string]string{}
	worldKept := func(h host) {
		t.Helper()
		if s.world != nil && s.world(h) != worlds[h.id] {
			t.Errorf("%s: the operator's record of wanted packages changed from %q to %q", h.id, worlds[h.id], s.world(h))
		}
	}
	for _, h := range hosts {
		if s.world != nil {
			worlds[h.id] = s.world(h)
		}
		if out, err := h.agent(t); err != nil || !strings.Contains(out, "0 actions") {
			t.Fatalf("%s before any rollout: %v\n%s", h.id, err, out)
		}
		if got := runs(h); got != v0+" "+v0 {
			t.Fatalf("%s starts with %s, want %s of both", h.id, got, v0)
		}
	}
	has := func(h host, out string, wants ...string) {
		t.Helper()
		for _, want := range wants {
			if !regexp.MustCompile(want).MatchString(out) {
				t.Errorf("%s step lacks %q", h.id, want)
			}
		}
	}
	q := regexp.QuoteMeta

	// 1. canary takes b1.
	write(t, filepath.Join(repo, "rings/canary.cue"), ringFile("canary", "b1", `"canary-1"`, s.rebootPolicy, ""), 0o644)
	sh(t, repo, "git", "commit", "-q", "-am", "promote b1 to canary")
	// A push to main with no gate decision waits as unreviewed; the
	// operator's break-glass approval starts it.
	approveRollout(t, server, admin, "canary")
	out := canary.agentUntil(t, "rebooting")
	has(canary, out, q(s.refresh), q(s.canaryTx), // the candidates, one transaction
		s.moved(s.lib, v0, v1), s.moved("foo-tool", v0, v1),
		q("succeeded upgrade foo-tool"), q("succeeded upgrade "+s.lib))
	for _, c := range []string{s.refresh, s.canaryTx, " install ", " add "} {
		if n := len(regexp.MustCompile(`(?m)^\$ .*`+q(c)).FindAllString(out, -1)); n > 1 || n == 0 && (c == s.refresh || c == s.canaryTx) {
			t.Errorf("canary step ran %q %d times, want one refresh and one transaction", c, n)
		}
	}
	bootBefore := strings.TrimSpace(readFile(t, filepath.Join(canary.root, "etc/boot-id")))
	if bootBefore == "boot-0" {
		t.Fatalf("the reboot command did not run")
	}
	out, err := canary.agent(t)
	if err != nil || !strings.Contains(out, "succeeded reboot: rebooted: boot id boot-0 -> "+bootBefore) {
		t.Fatalf("canary after the restart: %v", err)
	}
	if out, _ := canary.agent(t); strings.Contains(out, "rebooting") {
		t.Errorf("rebooted twice for one action")
	}
	if got := runs(canary); got != v1+" "+v1 {
		t.Errorf("canary runs %s", got)
	}
	worldKept(canary)
	waitRollout(t, server, admin, "canary", "verified")

	// 2. The third version appears after canary's verification.
	s.publish(t, pilot1, pkgs2)
	s.publish(t, pilot2, pkgs2)

	// 3. pilot takes b1, bound to canary's tested set.
	write(t, filepath.Join(repo, "rings/pilot.cue"), ringFile("pilot", "b1", `"pilot-1", "pilot-2"`, s.rebootPolicy, `, rollback: "on-failure"`), 0o644)
	sh(t, repo, "git", "commit", "-q", "-am", "promote b1 to pilot")
	approveRollout(t, server, admin, "pilot")
	out = pilot1.agentUntil(t, "rebooting") // the run's duration is logged: refresh → one transaction → verify → report → reboot command
	has(pilot1, out, q(s.pilotTx), s.moved(s.lib, v0, v1), s.moved("foo-tool", v0, v1))
	if strings.Contains(out, v2) {
		t.Errorf("pilot-1 touched %s, which canary never ran", v2)
	}
	if _, err := pilot1.agent(t); err != nil {
		t.Errorf("pilot-1 after restart: %v", err)
	}
	if got := runs(pilot1); got != v1+" "+v1 {
		t.Errorf("pilot-1 runs %s, want canary's tested %s (the candidate is %s)", got, v1, v2)
	}
	worldKept(pilot1)
	check := "cmd:test -e " + pilot2.at("/run/foo-service.ok")
	out = pilot2.agentUntil(t, "rollback", "--health-check", check)
	has(pilot2, out,
		q("health check failed after patching: "+check),
		s.moved(s.lib, v1, v0), s.moved("foo-tool", v1, v0),
		q("rolled back "+s.lib+" to "+v0),
		q("rolled back foo-tool to "+v0),
		q("failed upgrade "+s.lib+" version="+v1))
	if strings.Contains(out, "rebooting") {
		t.Errorf("pilot-2 rebooted although its step failed")
	}
	if got := runs(pilot2); got != v0+" "+v0 {
		t.Errorf("pilot-2 runs %s after the rollback, want %s of both", got, v0)
	}
	worldKept(pilot2)
}

// TestRealApt: the story on apt/dpkg in Debian 12 roots made with
// mmdebstrap, packages built with dpkg-deb in a file: repository; the
// agent runs inside each root.
func TestRealApt(t *testing.T) {
	need(t, "apt-get install mmdebstrap dpkg-dev", "mmdebstrap", "dpkg-deb", "dpkg-scanpackages", "chroot", "unshare", "git", "tar")
	tarball := debianRoot(t)
	debDir := t.TempDir()
	runStory(t, story{
		stream: "debian-12", ecosystem: "deb", lib: "libfoo1",
		versions:     [3]string{"1.0-1", "1.1-1", "1.2-1"},
		rebootPolicy: "if-required",
		build: func(t *testing.T, v string) []string {
			reboot := "touch /run/reboot-required" // the library's postinst asks for a restart
			if v == "1.0-1" {
				reboot = ""
			}
			return []string{deb(t, debDir, "libfoo1", v, "", reboot), deb(t, debDir, "foo-tool", v, "libfoo1 (= "+v+")", "")}
		},
		newHost: func(t *testing.T, id, agentBin string, pkgs []string) host {
			root := filepath.Join(t.TempDir(), id)
			if err := os.MkdirAll(root, 0o755); err != nil {
				t.Fatal(err)
			}
			sh(t, "", "tar", "-xf", tarball, "-C", root)
			for _, f := range []string{"etc/apt/sources.list", "etc/apt/sources.list.d/debian.sources"} {
				_ = os.Remove(filepath.Join(root, f))
			}
			write(t, filepath.Join(root, "etc/apt/sources.list.d/local.list"), "deb [trusted=yes] file:/srv/repo ./\n", 0o644)
			copyFile(t, agentBin, filepath.Join(root, "usr/local/bin/patchbay-agent"), 0o755)
			h := host{id: id, root: root, inside: true, bin: "/usr/local/bin/patchbay-agent", flags: []string{"--executor", "apt"}}
			publishDebs(t, h, pkgs)
			h.run(t, "dpkg", "-i", "/srv/repo/libfoo1_1.0-1_all.deb", "/srv/repo/foo-tool_1.0-1_all.deb")
			return h
		},
		publish: publishDebs,
		version: func(t *testing.T, h host, pkg string) string {
			return strings.TrimSpace(h.run(t, "dpkg-query", "-W", "-f=${Version}", pkg))
		},
		refresh:  "apt-get update -q -o APT::Update::Error-Mode=any",
		canaryTx: "--only-upgrade foo-tool libfoo1",
		pilotTx:  "--only-upgrade foo-tool=1.1-1 libfoo1=1.1-1",
		moved: func(pkg, from, to string) string {
			return regexp.QuoteMeta(fmt.Sprintf("Unpacking %s (%s) over (%s)", pkg, to, from))
		},
	})
}

// debianRoot returns a Debian 12 minbase tarball made by mmdebstrap from
// the machine's apt sources, cached.
func debianRoot(t *testing.T) string {
	t.Helper()
	tarball := filepath.Join(cacheDir(t), "debian12-minbase.tar")
	if fi, err := os.Stat(tarball); err == nil && fi.Mode().IsRegular() {
		return tarball
	}
	t.Logf("building %s with mmdebstrap (cached for later runs)", tarball)
	// mmdebstrap picks the format from the target's name and makes a
	// directory of an unknown one (".tmp"), hence --format.
	tmp := tarball + ".tmp"
	_ = os.RemoveAll(tmp)
	_ = os.RemoveAll(tarball)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "mmdebstrap", "--variant=minbase", "--format=tar", "--quiet", "bookworm", tmp).CombinedOutput()
	if err != nil {
		t.Skipf("real package-manager test: mmdebstrap could not build a Debian 12 root (no Debian mirror reachable?): %v\n%s", err, out)
	}
	if err := os.Rename(tmp, tarball); err != nil {
		t.Fatal(err)
	}
	return tarball
}

// deb builds a .deb with dpkg-deb: name at version from source foo, with
// the given Depends and postinst script.
func deb(t *testing.T, out, name, version, depends, postinst string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "DEBIAN"), 0o755); err != nil {
		t.Fatal(err)
	}
	control := fmt.Sprintf("Package: %s\nVersion: %s\nSource: foo\nArchitecture: all\nMaintainer: patchbay tests <tests@patchbay.invalid>\nDescription: patchbay test package\n", name, version)
	if depends != "" {
		control += "Depends: " + depends + "\n"
	}
	write(t, filepath.Join(dir, "DEBIAN/control"), control, 0o644)
	if postinst != "" {
		write(t, filepath.Join(dir, "DEBIAN/postinst"), "#!/bin/sh\nset -e\n"+postinst+"\n", 0o755)
	}
	write(t, filepath.Join(dir, "usr/share/foo", name+".version"), version+"\n", 0o644)
	file := filepath.Join(out, fmt.Sprintf("%s_%s_all.deb", name, version))
	sh(t, "", "dpkg-deb", "--root-owner-group", "-Zgzip", "--build", dir, file)
	return file
}

// publishDebs copies debs into the root's local repository (/srv/repo) and
// rewrites its index.
func publishDebs(t *testing.T, h host, debs []string) {
	t.Helper()
	repo := copyInto(t, filepath.Join(h.root, "srv/repo"), debs)
	cmd := exec.Command("dpkg-scanpackages", "--multiversion", ".")
	cmd.Dir = repo
	idx, err := cmd.Output() // stdout only: the index
	if err != nil {
		t.Fatalf("dpkg-scanpackages: %v", err)
	}
	write(t, filepath.Join(repo, "Packages"), string(idx), 0o644)
}

// TestRealDnf: the story on dnf/rpm (Debian's dnf, createrepo-c and rpm)
// in installroots: rpms built with rpmbuild from one spec (source foo,
// subpackages libfoo and foo-tool), a createrepo_c repository, the agent
// on this machine with --root (dnf --installroot, rpm --root).
func TestRealDnf(t *testing.T) {
	need(t, "apt-get install dnf createrepo-c rpm", "dnf", "rpm", "rpmbuild", "createrepo_c", "git")
	buildDir := t.TempDir()
	write(t, filepath.Join(buildDir, "foo.spec"), fooSpec, 0o644)
	// Debian's rpm keeps its database in ~/.rpmdb (it does not manage
	// Debian's packages); a RHEL-family root has it in /var/lib/rpm. The
	// user's macro file moves it there for dnf (librpm) and rpm alike, as
	// an operator patching such roots from a Debian machine would.
	home := t.TempDir()
	write(t, filepath.Join(home, ".rpmmacros"), "%_dbpath /var/lib/rpm\n", 0o644)
	runStory(t, story{
		stream: "rocky-9", ecosystem: "rpm", lib: "libfoo",
		versions:     [3]string{"1.0-1", "1.1-1", "1.2-1"},
		rebootPolicy: "always", // an installroot runs no kernel, so nothing reports "reboot required"
		build: func(t *testing.T, v string) []string {
			ver, rel, _ := strings.Cut(v, "-")
			sh(t, buildDir, "rpmbuild", "-bb", "--quiet", "--define", "_topdir "+buildDir, "--define", "ver "+ver, "--define", "rel "+rel, "foo.spec")
			var files []string
			for _, n := range []string{"libfoo", "foo-tool"} {
				files = append(files, filepath.Join(buildDir, "RPMS/noarch", n+"-"+v+".noarch.rpm"))
			}
			return files
		},
		newHost: func(t *testing.T, id, agentBin string, pkgs []string) host {
			root := filepath.Join(t.TempDir(), id)
			write(t, filepath.Join(root, "etc/os-release"), "NAME=\"Rocky Linux\"\nID=rocky\nVERSION_ID=9.4\n", 0o644)
			write(t, filepath.Join(root, "etc/yum.repos.d/local.repo"),
				"[local]\nname=patchbay test repository\nbaseurl=file://"+root+"/srv/repo\ngpgcheck=0\nrepo_gpgcheck=0\n", 0o644)
			h := host{id: id, root: root, bin: agentBin, home: home, flags: []string{"--executor", "dnf", "--root", root, "--pm-arg=--releasever=9"}}
			publishRPMs(t, h, pkgs)
			h.run(t, "dnf", "--installroot="+root, "--releasever=9", "-y", "-q", "install", "foo-tool") // pulls libfoo as its dependency
			return h
		},
		publish: publishRPMs,
		version: func(t *testing.T, h host, pkg string) string {
			return h.run(t, "rpm", "-q", "--root", h.root, "--queryformat", "%{VERSION}-%{RELEASE}", pkg)
		},
		refresh:  "-y --setopt=skip_if_unavailable=False makecache --refresh",
		canaryTx: "-y upgrade foo-tool libfoo",
		pilotTx:  "-y install foo-tool-1.1-1 libfoo-1.1-1",
		moved: func(pkg, from, to string) string {
			return `(Upgrading|Downgrading) +: ` + regexp.QuoteMeta(pkg+"-"+to+".noarch")
		},
	})
}

// fooSpec builds source package foo at %{ver}-%{rel}: libfoo and foo-tool,
// which requires libfoo at exactly its own version.
const fooSpec = `Name: foo
Version: %{ver}
Release: %{rel}
Summary: patchbay test package
License: MIT
BuildArch: noarch
%description
patchbay test source package
%package -n libfoo
Summary: patchbay test library
%description -n libfoo
patchbay test library
%package -n foo-tool
Summary: patchbay test tool
Requires: libfoo = %{version}-%{release}
%description -n foo-tool
patchbay test tool
%install
mkdir -p %{buildroot}/usr/share/foo
echo %{version}-%{release} > %{buildroot}/usr/share/foo/libfoo.version
echo %{version}-%{release} > %{buildroot}/usr/share/foo/foo-tool.version
%files -n libfoo
/usr/share/foo/libfoo.version
%files -n foo-tool
/usr/share/foo/foo-tool.version
`

// publishRPMs copies rpms into the root's repository and rewrites its
// metadata with createrepo_c.
func publishRPMs(t *testing.T, h host, rpms []string) {
	t.Helper()
	repo := copyInto(t, filepath.Join(h.root, "srv/repo"), rpms)
	sh(t, "", "createrepo_c", "-q", repo)
}

// TestRealApk: the story on a real apk-tools 3.0.6 (built from the source
// in ../shared/tools, cached): packages made with apk mkpkg, a v3 index
// made with apk mkndx, the agent on this machine with --root (apk --root,
// --allow-untrusted for the unsigned test repository).
func TestRealApk(t *testing.T) {
	need(t, "apt-get install git", "git")
	apk := apkTools(t)
	pkgDir := t.TempDir()
	runStory(t, story{
		stream: "alpine-3.20", ecosystem: "apk", lib: "libfoo",
		versions:     [3]string{"1.0-r0", "1.1-r0", "1.2-r0"},
		rebootPolicy: "always", // a root runs no kernel, so nothing reports "reboot required"
		build: func(t *testing.T, v string) []string {
			var files []string
			for _, n := range []string{"libfoo", "foo-tool"} {
				dir := t.TempDir()
				write(t, filepath.Join(dir, "usr/share/foo", n+".version"), v+"\n", 0o644)
				file := filepath.Join(pkgDir, n+"-"+v+".apk")
				args := []string{"mkpkg", "--files", dir, "--output", file, "--info", "name:" + n, "--info", "version:" + v,
					"--info", "arch:noarch", "--info", "origin:foo", "--info", "license:MIT", "--info", "description:patchbay test package"}
				if n == "foo-tool" {
					args = append(args, "--info", "depends:libfoo="+v)
				}
				sh(t, "", apk, args...)
				files = append(files, file)
			}
			return files
		},
		newHost: func(t *testing.T, id, agentBin string, pkgs []string) host {
			root := filepath.Join(t.TempDir(), id)
			write(t, filepath.Join(root, "etc/os-release"), "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\n", 0o644)
			write(t, filepath.Join(root, "etc/apk/repositories"), root+"/srv/repo/Packages.adb\n", 0o644)
			h := host{id: id, root: root, bin: agentBin, path: filepath.Dir(apk),
				flags: []string{"--executor", "apk", "--root", root, "--pm-arg=--allow-untrusted"}}
			publishAPKs(t, h, pkgs)
			h.run(t, "apk", "--root", root, "--allow-untrusted", "add", "--initdb", "--arch", "x86_64", "foo-tool") // libfoo as its dependency
			return h
		},
		publish: publishAPKs,
		version: func(t *testing.T, h host, pkg string) string {
			out := h.run(t, "apk", "--root", h.root, "--allow-untrusted", "query", "--fields", "version", "--installed", pkg)
			for _, l := range strings.Split(out, "\n") {
				if v, ok := strings.CutPrefix(l, "Version:"); ok {
					return strings.TrimSpace(v)
				}
			}
			return ""
		},
		refresh:  "--allow-untrusted update",
		canaryTx: "add --virtual .patchbay-step --upgrade foo-tool libfoo",
		pilotTx:  "add --virtual .patchbay-step foo-tool=1.1-r0 libfoo=1.1-r0",
		world:    func(h host) string { return readFile(t, filepath.Join(h.root, "etc/apk/world")) },
		moved: func(pkg, from, to string) string {
			return `(Upgrading|Downgrading) ` + regexp.QuoteMeta(pkg+" ("+from+" -> "+to+")")
		},
	})
}

// publishAPKs copies packages into the root's repository and rewrites its
// index (Packages.adb) with apk mkndx.
func publishAPKs(t *testing.T, h host, pkgs []string) {
	t.Helper()
	repo := copyInto(t, filepath.Join(h.root, "srv/repo"), pkgs)
	all, err := filepath.Glob(filepath.Join(repo, "*.apk"))
	if err != nil {
		t.Fatal(err)
	}
	h.run(t, append([]string{"apk", "mkndx", "--allow-untrusted", "--output", filepath.Join(repo, "Packages.adb")}, all...)...)
}

// apkTools builds the real apk-tools 3.0.6 with
// ../shared/tools/build-apk-tools.sh into the test cache (once) and
// returns the binary.
func apkTools(t *testing.T) string {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "tools", "build-apk-tools.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(script); err != nil {
		t.Skipf("real package-manager test: %s not found (apk-tools' source lives in ../shared/tools beside the checkout)", script)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, filepath.Join(cacheDir(t), "apk-tools-3.0.6"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil && strings.Contains(stderr.String(), "build-apk-tools: missing") {
		t.Skipf("real package-manager test: apk-tools cannot be built here: %s", strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		t.Fatalf("build-apk-tools.sh: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func copyInto(t *testing.T, dir string, files []string) string {
	t.Helper()
	for _, f := range files {
		copyFile(t, f, filepath.Join(dir, filepath.Base(f)), 0o644)
	}
	return dir
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dst, string(b), mode)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(l)
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func waitReady(t *testing.T, server string) {
	t.Helper()
	for range 100 {
		resp, err := http.Get(server + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("patchbay serve did not become ready")
}

// waitRollout waits until the ring's newest rollout is in state.
// approveRollout waits for ring's rollout to be unreviewed (a commit
// pushed to main without a gate decision) and approves it through the admin
// API, as `patchbay rollout approve ID --reason …` does.
func approveRollout(t *testing.T, server, admin, ring string) {
	t.Helper()
	id := waitRollout(t, server, admin, ring, "unreviewed")
	req, _ := http.NewRequest(http.MethodPost, server+"/api/v1/rollouts/"+id+"/approve", strings.NewReader(`{"reason":"real-host test: pushed without a pull request"}`))
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("approve %s: %d %s", id, resp.StatusCode, b)
	}
}

func waitRollout(t *testing.T, server, admin, ring, state string) string {
	t.Helper()
	var last string
	for range 100 {
		req, _ := http.NewRequest(http.MethodGet, server+"/api/v1/rollouts", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var l struct {
				Rollouts []struct {
					ID, Ring, State, Hold string
				} `json:"rollouts"`
			}
			if json.Unmarshal(b, &l) == nil {
				for _, r := range l.Rollouts {
					if r.Ring == ring {
						last = r.State + " " + r.Hold
						if r.State == state {
							return r.ID
						}
					}
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("ring %s rollout never reached %s (last: %s)", ring, state, last)
	return ""
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// buildBinaries builds patchbay and a static patchbay-agent.
func buildBinaries(t *testing.T) (patchbay, agentBin string) {
	t.Helper()
	dir := t.TempDir()
	// The server runs on this machine; the agent, static, inside the roots.
	for _, b := range []struct{ pkg, cgo string }{{"cmd/patchbay", ""}, {"cmd/patchbay-agent", "CGO_ENABLED=0"}} {
		cmd := exec.Command("go", "build", "-o", dir+"/", "github.com/patchbay/patchbay/"+b.pkg)
		cmd.Env = os.Environ()
		if b.cgo != "" {
			cmd.Env = append(cmd.Env, b.cgo)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return filepath.Join(dir, "patchbay"), filepath.Join(dir, "patchbay-agent")
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestRealRefreshUnreachable: a repository that cannot be read fails the
// refresh with the package manager's own words, on the real dnf (whose
// Debian dnf.conf sets skip_if_unavailable=True, so makecache exits 0) and
// the real apk (whose update exits 0 for a missing local repository).
func TestRealRefreshUnreachable(t *testing.T) {
	need(t, "apt-get install git", "git")
	ctx := context.Background()
	t.Run("dnf", func(t *testing.T) {
		need(t, "apt-get install dnf", "dnf")
		root := t.TempDir()
		write(t, filepath.Join(root, "etc/yum.repos.d/gone.repo"), "[gone]\nname=gone\nbaseurl=file:///nonexistent/patchbay-test-repo\ngpgcheck=0\n", 0o644)
		pm := agent.CommandPM{Tool: agent.Dnf, Extra: []string{"--installroot=" + root, "--releasever=9"}}
		err := pm.Refresh(ctx)
		if !errors.Is(err, agent.ErrRefresh) || !strings.Contains(err.Error(), "Failed to download metadata for repo 'gone'") {
			t.Errorf("refresh: %v", err)
		}
	})
	t.Run("apk", func(t *testing.T) {
		apk := apkTools(t)
		root := t.TempDir()
		write(t, filepath.Join(root, "etc/apk/repositories"), "/nonexistent/patchbay-test-repo/Packages.adb\n", 0o644)
		sh(t, "", apk, "--root", root, "add", "--initdb", "--arch", "x86_64")
		t.Setenv("PATH", filepath.Dir(apk)+":"+os.Getenv("PATH"))
		pm := agent.CommandPM{Tool: agent.Apk, Extra: []string{"--root", root, "--allow-untrusted"}}
		err := pm.Refresh(ctx)
		if !errors.Is(err, agent.ErrRefresh) || !strings.Contains(err.Error(), "/nonexistent/patchbay-test-repo/Packages.adb: No such file or directory") {
			t.Errorf("refresh: %v", err)
		}
	})
}
