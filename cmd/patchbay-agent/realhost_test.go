package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The real-host tests run the real patchbay-agent binary against a real
// `patchbay serve` on real package managers. They are slow and need root
// and the package managers' tools; .ci/run installs those with apt-get.
// Without them the tests skip and say what is missing.

// need skips t unless every tool is on PATH and the test runs as root.
func need(t *testing.T, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("real package-manager test: skipped in -short mode")
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("real package-manager test: needs root on Linux (chroot, dpkg in a root file system); .ci/run runs it")
	}
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Skipf("real package-manager test: %s not installed (apt-get install mmdebstrap; .ci/run does)", strings.Join(missing, ", "))
	}
}

// cacheDir is where slow fixtures (the Debian root tarball) are kept
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

// debianRoot returns a Debian 12 minbase tarball made by mmdebstrap from
// the machine's apt sources, cached.
func debianRoot(t *testing.T) string {
	t.Helper()
	tarball := filepath.Join(cacheDir(t), "debian12-minbase.tar")
	if _, err := os.Stat(tarball); err == nil {
		return tarball
	}
	t.Logf("building %s with mmdebstrap (cached for later runs)", tarball)
	tmp := tarball + ".tmp"
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "mmdebstrap", "--variant=minbase", "--quiet", "bookworm", tmp).CombinedOutput()
	if err != nil {
		t.Skipf("real package-manager test: mmdebstrap could not build a Debian 12 root (no Debian mirror reachable?): %v\n%s", err, out)
	}
	if err := os.Rename(tmp, tarball); err != nil {
		t.Fatal(err)
	}
	return tarball
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

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// publish copies debs into root's local repository (/srv/repo) and
// rewrites its index.
func publish(t *testing.T, root string, debs ...string) {
	t.Helper()
	repo := filepath.Join(root, "srv/repo")
	for _, d := range debs {
		b, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(repo, filepath.Base(d)), string(b), 0o644)
	}
	cmd := exec.Command("dpkg-scanpackages", "--multiversion", ".")
	cmd.Dir = repo
	idx, err := cmd.Output() // stdout only: the index
	if err != nil {
		t.Fatalf("dpkg-scanpackages: %v", err)
	}
	write(t, filepath.Join(repo, "Packages"), string(idx), 0o644)
}

// host is a Debian 12 root with the agent in it.
type host struct {
	id, root string
}

// newHost unpacks the tarball, points apt at the local repository only,
// installs libfoo1 and foo-tool 1.0-1 and enrolls the agent.
func newHost(t *testing.T, id, tarball, agentBin string, debs []string, server, token string) host {
	t.Helper()
	root := filepath.Join(t.TempDir(), id)
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	sh(t, "", "tar", "-xf", tarball, "-C", root)
	for _, f := range []string{"etc/apt/sources.list", "etc/apt/sources.list.d/debian.sources"} {
		_ = os.Remove(filepath.Join(root, f))
	}
	write(t, filepath.Join(root, "etc/apt/sources.list.d/local.list"), "deb [trusted=yes] file:/srv/repo ./\n", 0o644)
	write(t, filepath.Join(root, "etc/hostname"), id+"\n", 0o644)
	write(t, filepath.Join(root, "etc/boot-id"), "boot-0\n", 0o644)
	b, err := os.ReadFile(agentBin)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "usr/local/bin/patchbay-agent"), string(b), 0o755)
	publish(t, root, debs...)
	h := host{id: id, root: root}
	h.run(t, "dpkg", "-i", "/srv/repo/libfoo1_1.0-1_all.deb", "/srv/repo/foo-tool_1.0-1_all.deb")
	_ = os.Remove(filepath.Join(root, "run/reboot-required"))
	h.run(t, "/usr/local/bin/patchbay-agent", "enroll", "--server", server, "--token", token, "--state-dir", "/var/lib/patchbay", "--host-id", id)
	return h
}

// run runs a command inside the host's root (chroot in a new mount
// namespace).
func (h host) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := h.try(args...)
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", h.id, strings.Join(args, " "), err, out)
	}
	return out
}

func (h host) try(args ...string) (string, error) {
	cmd := exec.Command("unshare", append([]string{"--mount", "--fork", "chroot", h.root}, args...)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// version is the installed version of pkg in the root.
func (h host) version(t *testing.T, pkg string) string {
	t.Helper()
	return strings.TrimSpace(h.run(t, "dpkg-query", "-W", "-f=${Version}", pkg))
}

// rebootCmd is the test reboot: it clears /run (as a restart does) and
// writes a new boot id.
const rebootCmd = `rm -f /run/reboot-required /var/run/reboot-required; echo "boot-$(date +%s%N)" > /etc/boot-id`

// agent runs `patchbay-agent run --once` in the root with extra flags.
func (h host) agent(t *testing.T, extra ...string) (string, error) {
	t.Helper()
	args := append([]string{"/usr/local/bin/patchbay-agent", "run", "--once", "--executor", "apt", "--state-dir", "/var/lib/patchbay",
		"--reboot-command", rebootCmd, "--boot-id-file", "/etc/boot-id", "--health-timeout", "2s"}, extra...)
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

const patchRepoConfig = `package patchbay

config: {
	streams: "debian-12": {ecosystem: "deb", description: "Debian 12 (bookworm)"}
	rings: ["canary", "pilot"]
	sla: {critical: 15, high: 30, medium: 90, low: 180, kev: 14}
	approvers: sre: ["sre-lead", "sre-oncall"]
	reports: staleAfter: "72h"
	exceptions: maxDays: 90
}
`

const baselineB0 = `package patchbay

baselines: "b0": {
	created: "2026-11-01"
	summary: "nothing yet"
	streams: "debian-12": packages: bash: {min: "5.0", severity: "low"}
}
`

const baselineB1 = `package patchbay

baselines: "b1": {
	created: "2026-11-20"
	summary: "foo 1.1: library and tool move together"
	extends: "b0"
	streams: "debian-12": sources: foo: {min: "1.1-1", severity: "high", reboot: true}
}
`

func ringFile(name, baseline, hosts, extra string) string {
	return fmt.Sprintf(`package patchbay

rings: %s: {
	selector: hosts: [%s]
	baseline: %q
	strategy: {maxConcurrency: 2, maxErrors: 1%s}
	soak:             "0m"
	successThreshold: 0.5
	reboot:           "if-required"
	approvals: {required: 1, groups: ["sre"]}
}
`, name, hosts, baseline, extra)
}

// TestRealApt: the tested set, one transaction, a reboot and a health
// check failure with rollback, on apt/dpkg in real Debian 12 roots.
//
//  1. canary-1 takes baseline b1 (source foo >= 1.1-1): one refresh, one
//     transaction of libfoo1 and foo-tool (foo-tool 1.1-1 depends on
//     libfoo1 (= 1.1-1)), the package's postinst asks for a reboot, the
//     agent reboots (test reboot command, boot id file changes) and reports
//     the reboot after the "restart". The canary ring is verified and its
//     ring.verified names the tested set: libfoo1 1.1-1, foo-tool 1.1-1.
//  2. foo 1.2-1, which canary never saw, is published.
//  3. pilot takes b1: pilot-1 installs exactly 1.1-1 (not the candidate
//     1.2-1) and reboots; pilot-2's health check fails, so the step fails
//     and its packages are rolled back to 1.0-1 (strategy.rollback
//     on-failure).
func TestRealApt(t *testing.T) {
	need(t, "mmdebstrap", "dpkg-deb", "dpkg-scanpackages", "chroot", "unshare", "git", "tar")
	tarball := debianRoot(t)
	patchbay, agentBin := buildBinaries(t)

	debDir := t.TempDir()
	reboot := "touch /run/reboot-required"
	v1 := []string{deb(t, debDir, "libfoo1", "1.0-1", "", ""), deb(t, debDir, "foo-tool", "1.0-1", "libfoo1 (= 1.0-1)", "")}
	v11 := []string{deb(t, debDir, "libfoo1", "1.1-1", "", reboot), deb(t, debDir, "foo-tool", "1.1-1", "libfoo1 (= 1.1-1)", "")}
	v12 := []string{deb(t, debDir, "libfoo1", "1.2-1", "", reboot), deb(t, debDir, "foo-tool", "1.2-1", "libfoo1 (= 1.2-1)", "")}

	// The patch repository: canary and pilot both on b0.
	repo := t.TempDir()
	sh(t, repo, "git", "init", "-q", "-b", "main")
	sh(t, repo, "git", "config", "user.email", "sre@patchbay.invalid")
	sh(t, repo, "git", "config", "user.name", "sre-lead")
	write(t, filepath.Join(repo, "patchbay.cue"), patchRepoConfig, 0o644)
	write(t, filepath.Join(repo, "baselines/b0.cue"), baselineB0, 0o644)
	write(t, filepath.Join(repo, "baselines/b1.cue"), baselineB1, 0o644)
	write(t, filepath.Join(repo, "rings/canary.cue"), ringFile("canary", "b0", `"canary-1"`, ""), 0o644)
	write(t, filepath.Join(repo, "rings/pilot.cue"), ringFile("pilot", "b0", `"pilot-1", "pilot-2"`, `, rollback: "on-failure"`), 0o644)
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

	canary := newHost(t, "canary-1", tarball, agentBin, append(v1, v11...), server, enroll)
	pilot1 := newHost(t, "pilot-1", tarball, agentBin, append(v1, v11...), server, enroll)
	pilot2 := newHost(t, "pilot-2", tarball, agentBin, append(v1, v11...), server, enroll)
	for _, h := range []host{canary, pilot1, pilot2} {
		if out, err := h.agent(t); err != nil || !strings.Contains(out, "0 actions") {
			t.Fatalf("%s before any rollout: %v\n%s", h.id, err, out)
		}
	}

	// 1. canary takes b1.
	write(t, filepath.Join(repo, "rings/canary.cue"), ringFile("canary", "b1", `"canary-1"`, ""), 0o644)
	sh(t, repo, "git", "commit", "-q", "-am", "promote b1 to canary")
	// A push to main with no gate decision waits as unreviewed; the
	// operator's break-glass approval starts it.
	approveRollout(t, server, admin, "canary")
	out := canary.agentUntil(t, "rebooting")
	for _, want := range []string{
		"apt-get update -q -o APT::Update::Error-Mode=any",
		"--only-upgrade foo-tool libfoo1", // canary: the candidates, one transaction
		"Unpacking libfoo1 (1.1-1) over (1.0-1)",
		"Unpacking foo-tool (1.1-1) over (1.0-1)",
		"succeeded upgrade foo-tool",
		"succeeded upgrade libfoo1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("canary step lacks %q", want)
		}
	}
	if strings.Count(out, "apt-get update") != 1 || strings.Count(out, "apt-get install") != 1 {
		t.Errorf("canary step: want one refresh and one transaction")
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
	if got := canary.version(t, "libfoo1") + " " + canary.version(t, "foo-tool"); got != "1.1-1 1.1-1" {
		t.Errorf("canary runs %s", got)
	}
	waitRollout(t, server, admin, "canary", "verified")

	// 2. foo 1.2-1 appears after canary's verification.
	publish(t, pilot1.root, v12...)
	publish(t, pilot2.root, v12...)

	// 3. pilot takes b1, bound to canary's tested set.
	write(t, filepath.Join(repo, "rings/pilot.cue"), ringFile("pilot", "b1", `"pilot-1", "pilot-2"`, `, rollback: "on-failure"`), 0o644)
	sh(t, repo, "git", "commit", "-q", "-am", "promote b1 to pilot")
	approveRollout(t, server, admin, "pilot")
	out = pilot1.agentUntil(t, "rebooting") // the run's duration is logged: refresh → one transaction → verify → report → reboot command
	for _, want := range []string{"foo-tool=1.1-1 libfoo1=1.1-1", "Unpacking libfoo1 (1.1-1) over (1.0-1)"} {
		if !strings.Contains(out, want) {
			t.Errorf("pilot-1 step lacks %q", want)
		}
	}
	if strings.Contains(out, "1.2-1 ") || strings.Contains(out, "(1.2-1)") {
		t.Errorf("pilot-1 touched 1.2-1, which canary never ran")
	}
	if _, err := pilot1.agent(t); err != nil {
		t.Errorf("pilot-1 after restart: %v", err)
	}
	if got := pilot1.version(t, "libfoo1") + " " + pilot1.version(t, "foo-tool"); got != "1.1-1 1.1-1" {
		t.Errorf("pilot-1 runs %s, want canary's tested 1.1-1 (the candidate is 1.2-1)", got)
	}
	out = pilot2.agentUntil(t, "rollback", "--health-check", "cmd:test -e /run/foo-service.ok")
	for _, want := range []string{
		"health check failed after patching: cmd:test -e /run/foo-service.ok",
		"rolled back libfoo1 to 1.0-1",
		"rolled back foo-tool to 1.0-1",
		"failed upgrade libfoo1 version=1.1-1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("pilot-2 step lacks %q", want)
		}
	}
	if strings.Contains(out, "rebooting") {
		t.Errorf("pilot-2 rebooted although its step failed")
	}
	if got := pilot2.version(t, "libfoo1") + " " + pilot2.version(t, "foo-tool"); got != "1.0-1 1.0-1" {
		t.Errorf("pilot-2 runs %s after the rollback, want 1.0-1 1.0-1", got)
	}
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
