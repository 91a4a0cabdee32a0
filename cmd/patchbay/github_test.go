package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/github"
	"github.com/patchbay/patchbay/engine/github/githubtest"
)

// gitIn runs git in dir with fixed dates.
func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE=2026-11-20T10:00:00Z", "GIT_COMMITTER_DATE=2026-11-20T10:00:00Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestGitHubComment runs `patchbay github comment` the way the reusable
// workflow does (token and repository from the environment, API URL of an
// Enterprise server) against the GitHub test server: the first run creates
// the comment and a failing status, the second, after approvals on the
// head, edits the same comment; the exit codes follow the gate.
func TestGitHubComment(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not on PATH")
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "examples", "quickstart"))); err != nil {
		t.Fatal(err)
	}
	gitIn(t, dir, "init", "-q", "-b", "main")
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-q", "-m", "quickstart")
	gitIn(t, dir, "checkout", "-q", "-b", "promote-canary")
	p := filepath.Join(dir, "rings", "prod.cue")
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p, bytes.Replace(b, []byte(`baseline: "2026-10"`), []byte(`baseline: "2026-11"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	gitIn(t, dir, "commit", "-q", "-am", "promote 2026-11 to prod")
	head := gitIn(t, dir, "rev-parse", "HEAD")

	gs := githubtest.New(t, "infra", "patches")
	gs.Token = "ghs_actions"
	gs.SetPR(githubtest.PR{Number: 9, Author: "sre-platform", HeadSHA: head, BaseRef: "main"})
	env := map[string]string{envGitHubToken: gs.Token, envGitHubRepository: "infra/patches", envGitHubAPIURL: gs.APIURL()}
	comment := func(want int, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		a := &app{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return env[k] }, now: time.Now}
		code := a.run(context.Background(), append([]string{"github", "comment", "-C", dir, "--pr", "9", "--now", "2026-11-26T09:00:00Z"}, args...))
		if code != want {
			t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, want, stdout.String(), stderr.String())
		}
		return stdout.String()
	}

	out := comment(1)
	if want := "patchbay/gate: fail on " + head[:12] + " (failure)\n"; !strings.HasPrefix(out, want) || !strings.Contains(out, ": created") {
		t.Fatalf("stdout %q", out)
	}
	st := gs.CommitStatuses()
	if len(st) != 1 || st[0].State != "failure" || st[0].Context != "patchbay/gate" || st[0].SHA != head {
		t.Fatalf("statuses %+v", st)
	}

	gs.AddReview(9, githubtest.Review{User: "sre-lead", State: "APPROVED", CommitID: head, SubmittedAt: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)})
	gs.AddReview(9, githubtest.Review{User: "sec-lead", State: "APPROVED", CommitID: head, SubmittedAt: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)})
	var res struct {
		Result  string `json:"result"`
		Created bool   `json:"comment_created"`
		State   string `json:"state"`
	}
	// Prod needs evidence from pilot, which this repository has none of:
	// inconclusive, a pending status.
	if err := json.Unmarshal([]byte(comment(3, "--format", "json")), &res); err != nil {
		t.Fatal(err)
	}
	if res.Result != "inconclusive" || res.Created || res.State != "pending" {
		t.Fatalf("second run: %+v", res)
	}
	cs := gs.CommentsOn(9)
	if len(cs) != 1 || cs[0].Edits != 1 || !strings.HasPrefix(cs[0].Body, github.Marker) {
		t.Fatalf("comments %+v, want one, edited once", cs)
	}
	md := comment(3, "--format", "markdown")
	if md != cs[0].Body {
		t.Fatal("--format markdown is not the comment body")
	}
}
