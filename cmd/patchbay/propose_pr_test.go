package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/github/githubtest"
)

// TestProposePR: `patchbay propose --pr` writes the baseline and opens the
// pull request on GitHub (the test server, backed by the repository's own
// Git objects): the commit sits on the base branch head with the baseline
// file, the body holds the rules, the plan delta and the ranked list; a
// second run finds the pull request instead of opening another.
func TestProposePR(t *testing.T) {
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
	base := gitIn(t, dir, "rev-parse", "HEAD")
	// GitHub's copy of the repository: a bare clone the test server serves.
	remote := filepath.Join(t.TempDir(), "patches.git")
	gitIn(t, dir, "clone", "-q", "--bare", dir, remote)

	gs := githubtest.New(t, "infra", "patches")
	gs.Token = "ghs_app_installation"
	if err := gs.ServeGit(remote); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{envGitHubToken: gs.Token, envGitHubRepository: "infra/patches", envGitHubAPIURL: gs.APIURL()}
	run := func(want int, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		a := &app{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return env[k] }, now: time.Now}
		if code := a.run(context.Background(), args); code != want {
			t.Fatalf("patchbay %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, want, stdout.String(), stderr.String())
		}
		return stdout.String() + stderr.String()
	}
	shared := filepath.Join("..", "..", "..", "shared", "testdata", "advisories")
	if _, err := os.Stat(shared); err != nil {
		t.Skip("no shared test data")
	}
	run(0, "advisories", "sync", "-C", dir, "--from", filepath.Join(shared, "ubuntu", "ubuntu-security-notices"),
		"--from", filepath.Join(shared, "kev", "known_exploited_vulnerabilities.json"))

	propose := []string{"propose", "-C", dir, "--inventory", filepath.Join(dir, "inventory"), "--now", "2026-11-25T00:00:00Z", "--stream", "ubuntu-24.04", "--pr"}
	out := run(0, propose...)
	if !strings.Contains(out, "opened pull request #1 from patchbay/propose/2026-11-25-advisories into main") {
		t.Fatalf("output:\n%s", out)
	}
	prs := gs.Created()
	if len(prs) != 1 {
		t.Fatalf("%d pull requests", len(prs))
	}
	pr := prs[0]
	for _, want := range []string{"## Proposed baseline `2026-11-25-advisories` (hotfix of `2026-11-hotfix-1`)", "| ubuntu-24.04 | source sudo | `1.9.15p5-3ubuntu5.24.04.1`",
		"### Plan delta if the first ring pinned it", "### Ranked advisories"} {
		if !strings.Contains(pr.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, pr.Body)
		}
	}
	if got := gitIn(t, remote, "rev-parse", pr.HeadSHA+"^"); got != base {
		t.Fatalf("the commit's parent is %s, want main's head %s", got, base)
	}
	local, _ := os.ReadFile(filepath.Join(dir, "baselines", "2026-11-25-advisories.cue"))
	if got := gitIn(t, remote, "show", pr.HeadSHA+":baselines/2026-11-25-advisories.cue"); got != strings.TrimSpace(string(local)) {
		t.Fatal("the committed baseline differs from the one written")
	}

	// Again, with the file removed locally (a fresh checkout): the branch
	// exists, nothing is committed, the pull request is found.
	os.Remove(filepath.Join(dir, "baselines", "2026-11-25-advisories.cue"))
	if out := run(0, propose...); !strings.Contains(out, "pull request #1 already open") {
		t.Fatalf("rerun output:\n%s", out)
	}
	if len(gs.Created()) != 1 || gs.Count("POST /repos/{owner}/{repo}/git/commits") != 1 {
		t.Fatal("a rerun opened or committed again")
	}
	// Usage errors say what to do.
	env[envGitHubToken] = ""
	if out := run(2, propose...); !strings.Contains(out, "no GitHub token: pass --token or set $GITHUB_TOKEN") {
		t.Fatalf("no token: %s", out)
	}
	if out := run(2, append(propose, "--dry-run")...); !strings.Contains(out, "cannot be combined with --dry-run") {
		t.Fatalf("--dry-run: %s", out)
	}
}
