package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/server"
	"github.com/patchbay/patchbay/engine/store"
)

// TestMeasureAgent measures the real agent binary's own CPU time and peak
// RSS, apart from the package manager's, for a full report of a
// 2,000-package host and for one step (refresh, one transaction, verify,
// report, results) against a real server. The package manager is a fast
// fake apt-get/apt-cache (shell scripts rewriting the dpkg status file),
// run under /usr/bin/time so its own usage can be subtracted. Opt in:
//
//	PATCHBAY_MEASURE=1 go test -run TestMeasureAgent -v ./cmd/patchbay-agent
func TestMeasureAgent(t *testing.T) {
	if os.Getenv("PATCHBAY_MEASURE") == "" {
		t.Skip("set PATCHBAY_MEASURE=1 to measure the agent")
	}
	if _, err := os.Stat("/usr/bin/time"); err != nil {
		t.Skip("needs /usr/bin/time (Debian package time)")
	}
	ctx := context.Background()
	bin := filepath.Join(t.TempDir(), "patchbay-agent")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/patchbay/patchbay/cmd/patchbay-agent").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "patchbay.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rl := server.NewReloader(server.DirSource{Dir: "../../examples/quickstart"}, nil, time.Now)
	if err := rl.Check(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Models: rl, Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	if err := st.CreateEnrollmentToken(ctx, "measure", time.Now().Add(time.Hour), 10); err != nil {
		t.Fatal(err)
	}

	// A Debian 12 root: the quickstart canary's real packages, padded to
	// 2,000 with copies under derived names.
	b, err := os.ReadFile("../../examples/quickstart/inventory/deb12-canary-02.json")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := inventory.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	var status strings.Builder
	pkgs := rep.Packages.Packages()
	for i := 0; i < 2000; i++ {
		p := pkgs[i%len(pkgs)]
		name := p.Name
		if i >= len(pkgs) {
			name = fmt.Sprintf("%s-pad%04d", p.Name, i)
		}
		src := p.SourceName
		if src == "" {
			src = name
		}
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nArchitecture: %s\nSource: %s (%s)\nVersion: %s\nDescription: x\n\n",
			name, p.Arch, src, p.SourceVersion, p.Version)
	}
	write(t, filepath.Join(root, "var/lib/dpkg/status"), status.String(), 0o644)
	write(t, filepath.Join(root, "etc/os-release"), "ID=debian\nVERSION_ID=\"12\"\n", 0o644)
	write(t, filepath.Join(root, "etc/hostname"), "measure-01\n", 0o644)
	write(t, filepath.Join(root, "boot-id"), "boot-0\n", 0o644)

	// The fake package manager, timed on its own.
	fake := t.TempDir()
	pmLog := filepath.Join(t.TempDir(), "pm.log")
	write(t, filepath.Join(fake, "apt-get.real"), `#!/bin/sh
# update: nothing to fetch. install: every named package (name or name=version)
# goes to its version, or to 99:1 (above any floor), in the dpkg status file.
[ "$1" = update ] && exit 0
status="`+filepath.Join(root, "var/lib/dpkg/status")+`"
set -- $(for a in "$@"; do case "$a" in -*|install|Dpkg::*) ;; *) echo "$a";; esac; done)
awk -v list="$*" 'BEGIN { n = split(list, a, " "); for (i = 1; i <= n; i++) { split(a[i], kv, "="); want[kv[1]] = (kv[2] == "" ? "99:1" : kv[2]) } }
  /^Package: / { pkg = $2 }
  /^Version: / && (pkg in want) { print "Version: " want[pkg]; next }
  { print }' "$status" > "$status.new" && mv "$status.new" "$status"
`, 0o755)
	write(t, filepath.Join(fake, "apt-get"), "#!/bin/sh\nexec /usr/bin/time -a -o "+pmLog+" -f '%U %S %M' "+filepath.Join(fake, "apt-get.real")+" \"$@\"\n", 0o755)
	write(t, filepath.Join(fake, "apt-cache"), "#!/bin/sh\nexec /usr/bin/time -a -o "+pmLog+" -f '%U %S %M' true\n", 0o755)
	env := append(os.Environ(), "PATH="+fake+":"+os.Getenv("PATH"))

	stateDir := t.TempDir()
	agent := func(args ...string) (*syscall.Rusage, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil && !strings.Contains(string(out), "reboot") {
			t.Logf("patchbay-agent %s: %v\n%s", args[0], err, out)
		}
		return cmd.ProcessState.SysUsage().(*syscall.Rusage), string(out)
	}
	cpu := func(ru *syscall.Rusage) time.Duration {
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	agent("enroll", "--server", ts.URL, "--token", "measure", "--state-dir", stateDir, "--root", root, "--host-id", "measure-01", "--label", "ring=canary")
	common := []string{"--once", "--root", root, "--state-dir", stateDir, "--label", "ring=canary", "--boot-id-file", filepath.Join(root, "boot-id"), "--reboot-command", "true"}

	ru, out := agent(append([]string{"run", "--executor", "dry-run"}, common...)...)
	if !strings.Contains(out, "2000 packages") || !strings.Contains(out, "as full report") {
		t.Fatalf("the dry run sent no full 2,000-package report:\n%s", out)
	}
	t.Logf("2,000-package full report (dry run: report, assignment, print): agent %v CPU, %d MB max RSS", cpu(ru).Round(time.Millisecond), ru.Maxrss/1024)

	ru, out = agent(append([]string{"run", "--executor", "apt"}, common...)...)
	if !strings.Contains(out, "succeeded ") {
		t.Fatalf("the step did not succeed:\n%s", out)
	}
	logb, err := os.ReadFile(pmLog)
	if err != nil {
		t.Fatal(err)
	}
	var pmCPU time.Duration
	var pmRSS, runs int64
	for _, line := range strings.Split(strings.TrimSpace(string(logb)), "\n") {
		var u, s float64
		var rss int64
		if _, err := fmt.Sscanf(line, "%f %f %d", &u, &s, &rss); err != nil {
			t.Fatalf("pm log line %q: %v", line, err)
		}
		pmCPU += time.Duration((u + s) * float64(time.Second))
		pmRSS = max(pmRSS, rss)
		runs++
	}
	total := cpu(ru)
	t.Logf("one step (summary report, assignment, refresh, one transaction, re-collect 2,000 packages, post-state report, results): "+
		"agent process and children %v CPU, of which the fake package manager %v in %d runs; agent alone %v CPU; max RSS %d MB (the package manager's largest %d MB)",
		total.Round(time.Millisecond), pmCPU.Round(time.Millisecond), runs, (total - pmCPU).Round(time.Millisecond), ru.Maxrss/1024, pmRSS/1024)
	t.Logf("agent output:\n%s", out)
}
