package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/api"
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
		`(?m)^\[10/10\] the audit trail`,
		`SIMULATED: the feed server .* x_patchbay-demo-2026-0001, in the real OSV format: \S+ on Debian 12, fixed in \S+\+demo1`,
		`proposed baselines/monthly-2026-11-10\.cue \(hotfix of 2026-11-hotfix-1\): debian-12 \S+ ≥ \S+\+demo1 \[\w+\] for \d+ hosts`,
		`signed cycle\.proposal record on [0-9a-f]{12}: cycle monthly 2026-11-10: opened #3 baseline monthly-2026-11-10`,
		`(?s)SIMULATED GitHub: branch patchbay/cycle/monthly/2026-11-10 .*?gate: PASS`,
		`(?m)^\s+[0-9a-f]{12}  cycle monthly 2026-11-10: opened #3 baseline monthly-2026-11-10`,
		`the tested set: canary verified these exact versions \(\d+ entries\)`,
		`pilot received [a-z0-9.+-]+=\S+ — the version canary verified \(tested set\)`,
		`health check systemd:payments.service will fail`,
		`rollout pilot-[0-9a-f]{12} halted: halted: \d+ failed hosts exceed maxErrors 1`,
		`rollout canary-[0-9a-f]{12} completed wave \d+ \(≤2 hosts\): (\d+) succeeded, 0 failed, 0 pending of \d+`,
		// The simulated agents heartbeat while they work, as the real one does.
		`rollout canary-[0-9a-f]{12} completed .*; [1-9]\d* heartbeats from the agents at work`,
		`ring\.verified: canary ran 2026-11-hotfix-1 on \d+/\d+ hosts \(100%\)`,
		`(?s)PR #2 .*?gate: PASS`,
		`evidence: audit trail: 1 verified ring\.verified record\n`,
		`pilot rollout pilot-[0-9a-f]{12} created for \d+ of \d+ hosts: `,
		`OK \d+ records? verified; chain head record \d+ sha256:[0-9a-f]{64}`,
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

// TestDemoServePauseReachesNotes keeps the demo's server running and
// pauses the pilot rollout through the API: the pause is written to the
// audit notes with the admin token's name and reason (before, the
// controller stopped ticking after the story and the record stayed
// pending).
func TestDemoServePauseReachesNotes(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo runs a server and agents")
	}
	dir := t.TempDir()
	out, errOut := &syncBuffer{}, &syncBuffer{}
	a := &app{stdin: strings.NewReader(""), stdout: out, stderr: errOut, getenv: func(string) string { return "" }, now: time.Now}
	ctx, cancel := context.WithCancel(context.Background())
	// exited is closed (not sent on) when the demo returns, so that both
	// the wait below and the deferred clean-up see it: a demo that exits
	// early must fail the test, not hang it in the deferred wait.
	exited, code := make(chan struct{}), 0
	go func() { code = a.run(ctx, []string{"demo", "--hosts", "20", "--dir", dir, "--serve"}); close(exited) }()
	defer func() { cancel(); <-exited }()
	re := regexp.MustCompile(`the server keeps running at (http://\S+) .*\n.*admin token (\S+)`)
	var m []string
	for deadline := time.Now().Add(2 * time.Minute); m == nil; time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("demo exited %d\n%s\n%s", code, out.String(), errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo did not reach --serve:\n%s", out.String())
		}
		m = re.FindStringSubmatch(out.String())
	}
	url, tok := m[1], m[2]
	call := func(method, path string, body any, v any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, url+path, rd)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		if v != nil {
			if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
				t.Fatal(err)
			}
		}
	}
	var l api.RolloutList
	call(http.MethodGet, "/api/v1/rollouts", nil, &l)
	// The demo's pilot rollout is running, or halted by its health-check
	// failures: an operator pauses the one, aborts the other.
	id, verb := "", ""
	for _, r := range l.Rollouts {
		if r.Ring == "pilot" && (r.State == "running" || r.State == "halted") {
			id, verb = r.ID, map[string]string{"running": "pause", "halted": "abort"}[r.State]
		}
	}
	if id == "" {
		t.Fatalf("no running or halted pilot rollout: %+v", l.Rollouts)
	}
	// The rollout's dashboard page shows the gate decision and the
	// approvals from the demo's audit trail, signed by the demo key.
	jar, _ := cookiejar.New(nil)
	web := &http.Client{Jar: jar}
	if resp, err := web.PostForm(url+"/login", neturl.Values{"token": {tok}}); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	for _, table := range []string{"gate", "approvals", "change"} {
		resp, err := web.Get(url + "/rollouts/" + id + "?csv=" + table)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		rows := strings.Split(strings.TrimSpace(string(b)), "\n")
		if resp.StatusCode != http.StatusOK || len(rows) < 2 || !strings.Contains(string(b), "verified: key demo") {
			t.Errorf("rollout %s, table %s: %d\n%s", id, table, resp.StatusCode, b)
		}
		if table == "gate" && len(rows) > 1 && !strings.HasPrefix(rows[1], "pass,") {
			t.Errorf("gate decision: %s", rows[1])
		}
	}
	call(http.MethodPost, "/api/v1/rollouts/"+id+"/"+verb, api.RolloutAction{Reason: "change freeze"}, nil)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var v api.Rollout
		call(http.MethodGet, "/api/v1/rollouts/"+id, nil, &v)
		last := v.Events[len(v.Events)-1]
		if last.Audited {
			if last.Actor != "demo" || !strings.Contains(last.Detail, verb+" by demo: change freeze") {
				t.Errorf("%s event = %+v", verb, last)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pause record stayed pending: %+v", last)
		}
	}
	// The record is a note on the rollout's commit (main's head is the
	// later merge of the advisory step's pull request).
	var ro api.Rollout
	call(http.MethodGet, "/api/v1/rollouts/"+id, nil, &ro)
	notes, err := exec.Command("git", "-C", filepath.Join(dir, "patches"), "notes", "--ref=patchbay", "show", ro.Commit).Output()
	if err == nil && !strings.Contains(string(notes), "payloadType") {
		t.Errorf("no notes on the rollout's commit %s: %s", ro.Commit, notes)
	}
}

// TestDemoHints checks the demo's closing hints: the plan command it prints
// reads the simulated fleet (not the 15-host example inventory) and runs as
// printed; each step reports its own duration; and without --dir the
// temporary directory is gone at the end, as the demo says.
func TestDemoHints(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo runs a server and agents")
	}
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }, now: time.Now}
	if code := a.run(context.Background(), []string{"demo", "--hosts", "30", "--dir", dir}); code != 0 {
		t.Fatalf("demo exited %d\n%s\n%s", code, out.String(), errOut.String())
	}
	s := out.String()
	if n := len(regexp.MustCompile(`(?m)^\s+\(step \d+ took \d+\.\ds\)$`).FindAllString(s, -1)); n != demoSteps {
		t.Errorf("%d step durations, want %d:\n%s", n, demoSteps, s)
	}
	m := regexp.MustCompile(`(?m)^  \S+ (plan -C \S+ --inventory (\S+) --now \S+)$`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no plan hint:\n%s", s)
	}
	if filepath.Base(m[2]) != "fleet.jsonl" {
		t.Errorf("the plan hint reads %s, not the simulated fleet", m[2])
	}
	out.Reset()
	if code := a.run(context.Background(), strings.Fields(m[1])); code != 0 {
		t.Fatalf("%s exited %d: %s", m[1], code, errOut.String())
	}
	if !regexp.MustCompile(`(?m)^fleet\s+30\s+\d+\s+\d+\s+0\s`).MatchString(out.String()) {
		t.Errorf("the hinted plan does not show the 30 simulated hosts, fresh:\n%s", out.String())
	}

	// Without --dir: the temporary directory is removed.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	out.Reset()
	if code := a.run(context.Background(), []string{"demo", "--hosts", "30"}); code != 0 {
		t.Fatalf("demo exited %d\n%s\n%s", code, out.String(), errOut.String())
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the demo left %v in the temporary directory", left)
	}
	if !strings.Contains(out.String(), "The temporary directory is removed on exit") {
		t.Errorf("the demo does not say where its files went:\n%s", out.String())
	}
}
