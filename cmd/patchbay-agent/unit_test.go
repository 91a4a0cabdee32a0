package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
