package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemo runs `patchbay demo` with a small fleet and checks the story:
// the canary rollout completes in waves, canary is verified, the pilot
// promotion passes on that evidence, and the audit chain verifies — also
// with the real git binary reading the notes when it is present.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo runs a server and 60 agents")
	}
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }, now: time.Now}
	if code := a.run(context.Background(), []string{"demo", "--hosts", "60", "--dir", dir}); code != 0 {
		t.Fatalf("demo exited %d\n%s\n%s", code, out.String(), errOut.String())
	}
	s := out.String()
	for _, want := range []string{
		`(?m)^\[9/9\] the audit trail`,
		`the tested set: canary verified these exact versions \(\d+ entries\)`,
		`pilot received [a-z0-9.+-]+=\S+ — the version canary verified \(tested set\)`,
		`health check systemd:payments.service will fail`,
		`rollout pilot-[0-9a-f]{12} halted: halted: \d+ failed hosts exceed maxErrors 1`,
		`rollout canary-[0-9a-f]{12} completed wave \d+ \(≤2 hosts\): (\d+) succeeded, 0 failed, 0 pending of \d+`,
		`ring\.verified: canary ran 2026-11-hotfix-1 on \d+/\d+ hosts \(100%\)`,
		`(?s)PR #2 .*?gate: PASS`,
		`evidence: audit trail: 1 verified ring\.verified records`,
		`pilot rollout pilot-[0-9a-f]{12} created for \d+ of \d+ hosts: `,
		`OK \d+ records verified; chain head record \d+ sha256:[0-9a-f]{64}`,
	} {
		if !regexp.MustCompile(want).MatchString(s) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
	// The waves respected canary's maxConcurrency of 2.
	for _, m := range regexp.MustCompile(`wave (\d+) \(≤2 hosts\): (\d+) succeeded`).FindAllStringSubmatch(s, -1) {
		if m[1] != "" && len(m[2]) > 0 {
			var wave, done int
			_, _ = fmt.Sscan(m[1], &wave)
			_, _ = fmt.Sscan(m[2], &done)
			if done > 2*wave {
				t.Errorf("%d hosts succeeded by wave %d: more than 2 per wave", done, wave)
			}
		}
	}
	if _, err := exec.LookPath("git"); err == nil {
		cmd := exec.Command("git", "log", "--notes=patchbay", "--format=%N", "main")
		cmd.Dir = filepath.Join(dir, "patches")
		notes, err := cmd.Output()
		// DSSE envelopes, one per line; the payload names the kind.
		if n := strings.Count(string(notes), `"payloadType":"application/vnd.in-toto+json"`); err != nil || n < 8 {
			t.Errorf("git shows %d records in the notes (%v)", n, err)
		}
	}
}
