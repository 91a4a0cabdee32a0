// Package gitrepotest builds real Git repositories for tests with the git
// binary: commits, branches, pull-request style merges, and large generated
// histories made with git fast-import. Tests that use it skip when git is
// not installed. It is imported by tests only and must not import other
// patchbay packages.
package gitrepotest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Repo is a work tree made by New.
type Repo struct {
	TB  testing.TB
	Dir string
	// tick advances the fake clock so commit times are distinct and ordered.
	tick int
}

// env fixes identities and dates so that runs are reproducible and nothing
// from the user's configuration leaks in.
func env(tick int) []string {
	date := fmt.Sprintf("%d +0000", 1767225600+tick*60) // 2026-01-01T00:00:00Z + tick minutes
	return append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Ada Author", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Cy Committer", "GIT_COMMITTER_EMAIL=cy@example.com",
		"GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date,
	)
}

// RequireGit skips the test when the git binary is missing.
func RequireGit(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		tb.Skip("git not installed")
	}
}

// New creates an empty repository with branch main in a temporary directory.
func New(tb testing.TB) *Repo {
	tb.Helper()
	RequireGit(tb)
	r := &Repo{TB: tb, Dir: tb.TempDir()}
	r.Git("init", "-q", "-b", "main")
	return r
}

// Git runs git in the repository and returns its trimmed stdout; it fails
// the test on error.
func (r *Repo) Git(args ...string) string {
	r.TB.Helper()
	out, err := r.TryGit(args...)
	if err != nil {
		r.TB.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// TryGit runs git and returns its trimmed stdout and any error (with stderr).
func (r *Repo) TryGit(args ...string) (string, error) {
	return RunGit(r.Dir, r.tick, nil, args...)
}

// RunGit runs git in dir with a reproducible environment and optional stdin.
func RunGit(dir string, tick int, stdin []byte, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = env(tick)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

// Commit writes files (path → content; an empty content deletes the path),
// commits them with msg and returns the new commit's hash.
func (r *Repo) Commit(msg string, files map[string]string) string {
	r.TB.Helper()
	for p, c := range files {
		full := filepath.Join(r.Dir, filepath.FromSlash(p))
		if c == "" {
			r.Git("rm", "-q", "--", p)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.TB.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			r.TB.Fatal(err)
		}
		r.Git("add", "--", p)
	}
	r.tick++
	r.Git("commit", "-q", "--allow-empty", "-m", msg)
	return r.Git("rev-parse", "HEAD")
}

// MergePR makes a branch from main, commits files on it, and merges it into
// main with --no-ff and GitHub's merge message "Merge pull request #n from
// user/branch". It returns the merge commit and the branch head.
func (r *Repo) MergePR(n int, user, branch string, files map[string]string) (merge, head string) {
	r.TB.Helper()
	r.Git("checkout", "-q", "-b", branch, "main")
	head = r.Commit(fmt.Sprintf("change for #%d", n), files)
	r.Git("checkout", "-q", "main")
	r.tick++
	r.Git("merge", "-q", "--no-ff", "-m", fmt.Sprintf("Merge pull request #%d from %s/%s\n\nchange for #%d", n, user, branch, n), branch)
	return r.Git("rev-parse", "HEAD"), head
}
