package change

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/gate"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/sandbox"
)

// TestMain makes the test binary a sandbox child when re-executed as one.
func TestMain(m *testing.M) {
	if sandbox.IsChild(os.Args) {
		os.Exit(sandbox.Serve(os.Stdin, os.Stdout, os.Stderr, Jobs()))
	}
	os.Exit(m.Run())
}

func testRunner(t testing.TB, l sandbox.Limits) *sandbox.Runner {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, err := sandbox.New(sandbox.Options{Path: exe, Limits: l})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// CUEBomb is a small baseline file whose evaluation needs gigabytes: a
// comprehension of 9 million elements inside a field the loader must
// evaluate.
const CUEBomb = `package patchbay

import "list"

baselines: "2026-12-bomb": {
	created: "2026-11-25"
	summary: "n=\(len([for a in list.Range(0, 3000, 1) for b in list.Range(0, 3000, 1) {a + b}]))"
	extends: "2026-11"
	streams: {}
}
`

// RegoLoop is a repository policy that never finishes (8e9 iterations).
const RegoLoop = `package patchbay.repo.loop

deny contains "never" if {
	some i in numbers.range(1, 2000)
	some j in numbers.range(1, 2000)
	some k in numbers.range(1, 2000)
	i * j * k == -1
}
`

// TestSandboxedEqualsInProcess: the sandboxed evaluation returns what the
// in-process one does, repositories included.
func TestSandboxedEqualsInProcess(t *testing.T) {
	r := newRepo(t)
	base := r.git("rev-parse", "HEAD")
	head := r.commit("promote pilot", map[string]func(string) string{"rings/pilot.cue": replace(`baseline: "2026-11"`, `baseline: "2026-11-hotfix-1"`)})
	repo, err := gitrepo.Open(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	req := Request{Repo: repo, Base: base, Head: head, PR: gate.PullRequest{Number: 7, Author: "dev"},
		Reviews: []gate.Review{approve("alice", head, now.Add(-time.Hour))}, Now: now}
	want, err := NewEvaluator().Evaluate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	// A generous deadline: under -race on a loaded machine the child is slow.
	ev := &Evaluator{Sandbox: testRunner(t, sandbox.Limits{Timeout: 2 * time.Minute})}
	got, err := ev.Evaluate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sandboxed result differs (-in-process +sandboxed):\n%s", diff)
	}
	// A side that does not validate is the same *SideError.
	bad := r.commit("break", map[string]func(string) string{"rings/pilot.cue": replace(`baseline: "2026-11-hotfix-1"`, `baseline: "nope"`)})
	req.Head = bad
	_, werr := NewEvaluator().Evaluate(context.Background(), req)
	_, gerr := ev.Evaluate(context.Background(), req)
	var ws, gs *SideError
	if !errors.As(werr, &ws) || !errors.As(gerr, &gs) || !cmp.Equal(ws, gs) {
		t.Errorf("side errors differ: in-process %v, sandboxed %v", werr, gerr)
	}
}

// TestSandboxStopsBombs: a head with a CUE comprehension bomb and a base
// whose policy loops each end as a denial-worthy error within the limits.
func TestSandboxStopsBombs(t *testing.T) {
	r := newRepo(t)
	base := r.git("rev-parse", "HEAD")
	bomb := r.commit("bomb", map[string]func(string) string{"baselines/2026-12-bomb.cue": content(CUEBomb)})
	repo, err := gitrepo.Open(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	ev := &Evaluator{Sandbox: testRunner(t, sandbox.Limits{Memory: 256 << 20, Timeout: 3 * time.Second})}
	start := time.Now()
	_, err = ev.Evaluate(context.Background(), Request{Repo: repo, Base: base, Head: bomb, Now: now})
	var le *LimitError
	if !errors.As(err, &le) || !errors.Is(err, sandbox.ErrLimit) {
		var se *SideError
		if errors.As(err, &se) {
			t.Logf("%v", se.Errors)
		}
		t.Fatalf("CUE bomb: err = %v, want a LimitError", err)
	}
	t.Logf("CUE bomb: %v after %s", err, time.Since(start).Round(time.Millisecond))
	if !strings.Contains(err.Error(), "evaluation exceeded 256 MiB / 3s") {
		t.Errorf("message %q does not name the limits", err)
	}

	// A base whose policy loops: the decision's time budget or the
	// sandbox's deadline ends it, either way no pass.
	r.git("checkout", "-q", base)
	loopBase := r.commit("loop", map[string]func(string) string{"policy/loop.rego": content(RegoLoop)})
	head := r.commit("harmless", map[string]func(string) string{"README.md": content("hello\n")})
	ev = &Evaluator{Sandbox: testRunner(t, sandbox.Limits{Timeout: 2 * time.Second})}
	start = time.Now()
	_, err = ev.Evaluate(context.Background(), Request{Repo: repo, Base: loopBase, Head: head, Now: now})
	if !errors.As(err, &le) || le.Err.Resource != "time" {
		t.Fatalf("Rego loop: err = %v, want a time LimitError", err)
	}
	t.Logf("Rego loop: %v after %s", err, time.Since(start).Round(time.Millisecond))
}

// benchEvaluate measures one pull request evaluation of the quickstart
// (promote pilot), in-process or sandboxed. Each in-process iteration uses
// a new Evaluator, as the sandbox child does, so that the difference is
// what the sandbox adds (process start, encoding both ways).
func benchEvaluate(b *testing.B, sandboxed bool) {
	if _, err := exec.LookPath("git"); err != nil {
		b.Skip("git not on PATH")
	}
	dir := b.TempDir()
	if err := os.CopyFS(dir, os.DirFS(fixture.Path(b, "examples/quickstart"))); err != nil {
		b.Fatal(err)
	}
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-c", "user.name=b", "-c", "user.email=b@example.invalid"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-q", "-m", "quickstart")
	base := git("rev-parse", "HEAD")
	p := filepath.Join(dir, "rings", "pilot.cue")
	old, _ := os.ReadFile(p)
	if err := os.WriteFile(p, []byte(strings.Replace(string(old), `baseline: "2026-11"`, `baseline: "2026-11-hotfix-1"`, 1)), 0o644); err != nil {
		b.Fatal(err)
	}
	git("commit", "-q", "-am", "promote")
	head := git("rev-parse", "HEAD")
	repo, err := gitrepo.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer repo.Close()
	req := Request{Repo: repo, Base: base, Head: head, PR: gate.PullRequest{Number: 7, Author: "dev"}, Now: now}
	var runner *sandbox.Runner
	if sandboxed {
		runner = testRunner(b, sandbox.Limits{})
	}
	for b.Loop() {
		ev := NewEvaluator()
		ev.Sandbox = runner
		if _, err := ev.Evaluate(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvaluateInProcess(b *testing.B) { benchEvaluate(b, false) }
func BenchmarkEvaluateSandboxed(b *testing.B) { benchEvaluate(b, true) }
