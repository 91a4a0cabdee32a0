package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/engine/agent"
)

// TestSystemdUnit checks examples/systemd/patchbay-agent.service with
// systemd-analyze verify (the binary path pointed at /bin/true), and that
// its ExecStart is a command line this agent accepts.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "systemd", "patchbay-agent.service"))
	if err != nil {
		t.Fatal(err)
	}
	var exec0 string
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			exec0 = v
		}
	}
	args := strings.Fields(exec0)
	if len(args) < 2 || filepath.Base(args[0]) != "patchbay-agent" || args[1] != "run" {
		t.Fatalf("ExecStart %q", exec0)
	}
	// The flags parse (the run then fails for lack of credentials: exit 4).
	dir := t.TempDir()
	flags := append(args[1:], "--state-dir", dir)
	var out, errb strings.Builder
	if code := run(t.Context(), flags, nil, &out, &errb); code != exitAuth {
		t.Errorf("ExecStart flags: exit %d, want %d (not enrolled): %s", code, exitAuth, errb.String())
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	unit := filepath.Join(dir, "patchbay-agent.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), args[0], "/bin/true")), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(o))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, o)
	}
}

// TestRootPMArgs: --root moves the package manager too, so the agent never
// patches this system while it judges another.
func TestRootPMArgs(t *testing.T) {
	tests := []struct {
		tool    agent.Tool
		root    string
		pmArgs  []string
		want    []string
		wantErr string
	}{
		{agent.Dnf, "/", nil, nil, ""},
		{agent.Dnf, "/srv/rocky9", []string{"--releasever=9"}, []string{"--installroot=/srv/rocky9", "--releasever=9"}, ""},
		{agent.Dnf, "/srv/rocky9/", nil, []string{"--installroot=/srv/rocky9"}, ""},
		{agent.Dnf, "/srv/rocky9", []string{"--installroot=/mnt/x"}, []string{"--installroot=/mnt/x"}, ""},
		{agent.Apk, "/srv/alpine", []string{"--allow-untrusted"}, []string{"--root", "/srv/alpine", "--allow-untrusted"}, ""},
		{agent.Apk, "/srv/alpine", []string{"-p", "/srv/alpine"}, []string{"-p", "/srv/alpine"}, ""},
		{agent.Apt, "/srv/debian", nil, nil, "apt-get cannot install into another root"},
		{agent.Apt, "/srv/debian", []string{"-o", "RootDir=/srv/debian"}, []string{"-o", "RootDir=/srv/debian"}, ""},
	}
	for _, tt := range tests {
		got, err := rootPMArgs(tt.tool, tt.root, tt.pmArgs)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s --root %s: error %v, want %q", tt.tool, tt.root, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s --root %s %v: got %q, %v; want %q", tt.tool, tt.root, tt.pmArgs, got, err, tt.want)
		}
	}
}

// TestRPMDBPath: dnf on a machine whose rpm looks elsewhere (Debian's
// ~/.rpmdb) must not patch a root with its own database.
func TestRPMDBPath(t *testing.T) {
	plain := t.TempDir()
	if err := os.MkdirAll(filepath.Join(plain, "var/lib/rpm"), 0o755); err != nil {
		t.Fatal(err)
	}
	linked := t.TempDir()
	if err := os.MkdirAll(filepath.Join(linked, "var/lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/lib/sysimage/rpm", filepath.Join(linked, "var/lib/rpm")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		root, dbpath string
		ok           bool
	}{
		{plain, "/var/lib/rpm", true},
		{plain, "/var/lib/rpm/", true},
		{plain, "/root/.rpmdb", false},
		{linked, "/usr/lib/sysimage/rpm", true},
		{linked, "/var/lib/rpm", true},
		{linked, "/root/.rpmdb", false},
	}
	for _, tt := range tests {
		err := rpmDBPathMatches(tt.root, tt.dbpath)
		if (err == nil) != tt.ok {
			t.Errorf("%s with %s: %v", tt.root, tt.dbpath, err)
		}
		if err != nil && !strings.Contains(err.Error(), "~/.rpmmacros") {
			t.Errorf("the error does not say what to do: %v", err)
		}
	}
}

// TestRunChecksRPMDBPath asks the machine's real rpm: with Debian's
// default (~/.rpmdb) `run --executor dnf --root` refuses a root with
// var/lib/rpm; with %_dbpath in ~/.rpmmacros it goes on (to "not
// enrolled").
func TestRunChecksRPMDBPath(t *testing.T) {
	if lookRPM() == "" {
		t.Skip("rpm not installed (apt-get install rpm)")
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "var/lib/rpm"), 0o755); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	args := []string{"run", "--once", "--executor", "dnf", "--root", root, "--state-dir", t.TempDir()}
	if out, _ := exec.Command("rpm", "--eval", "%{_dbpath}").Output(); strings.TrimSpace(string(out)) != "/var/lib/rpm" {
		var o, e strings.Builder
		if code := run(t.Context(), args, nil, &o, &e); code != exitFailed || !strings.Contains(e.String(), "~/.rpmmacros") {
			t.Errorf("rpm's dbpath %s: exit %d: %s", out, code, e.String())
		}
	}
	if err := os.WriteFile(filepath.Join(home, ".rpmmacros"), []byte("%_dbpath /var/lib/rpm\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var o, e strings.Builder
	if code := run(t.Context(), args, nil, &o, &e); code != exitAuth {
		t.Errorf("with %%_dbpath /var/lib/rpm: exit %d, want %d (not enrolled): %s", code, exitAuth, e.String())
	}
}
