package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/github/githubtest"
)

// TestServeRunsCycles: patchbay serve with --github-repo runs the cycles
// of config.cycles: it reads the main branch, the advisory cache
// (--advisories-offline) and the stored reports, and logs what each cycle
// did; without a publishing controller it says the records are only
// logged. --github-repo without GitHub settings is a usage error.
func TestServeRunsCycles(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "patches")
	if err := os.CopyFS(repo, os.DirFS(filepath.Join("..", "..", "examples", "quickstart"))); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(filepath.Join(repo, "patchbay.cue"))
	cfg = append(cfg, []byte("\nconfig: cycles: [{name: \"daily\", schedule: every: \"day\"}]\n")...)
	os.WriteFile(filepath.Join(repo, "patchbay.cue"), cfg, 0o644)
	gitIn(t, repo, "init", "-q", "-b", "main")
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "quickstart with a daily cycle")
	cache := filepath.Join(dir, "advisories")
	shared := filepath.Join("..", "..", "..", "shared", "testdata", "advisories")
	if _, err := os.Stat(shared); err != nil {
		t.Skip("no shared test data")
	}
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }, now: time.Now}
	if code := a.run(context.Background(), []string{"advisories", "sync", "-C", repo, "--cache", cache, "--from", filepath.Join(shared, "ubuntu", "ubuntu-security-notices")}); code != 0 {
		t.Fatalf("sync: %d\n%s", code, errb.String())
	}

	gs := githubtest.New(t, "o", "r")
	gs.Token = "ghs_server"
	if err := gs.ServeGit(repo); err != nil {
		t.Fatal(err)
	}
	secretFile, tokenFile := filepath.Join(dir, "secret"), filepath.Join(dir, "token")
	os.WriteFile(secretFile, []byte("webhook secret\n"), 0o600)
	os.WriteFile(tokenFile, []byte(gs.Token+"\n"), 0o600)
	args := []string{"serve", "-C", repo, "--db", "sqlite://" + filepath.Join(dir, "patchbay.db"), "--listen", "127.0.0.1:0",
		"--github-webhook-secret-file", secretFile, "--github-token-file", tokenFile, "--github-api-url", gs.APIURL(),
		"--github-repo", "o/r", "--advisories-cache", cache, "--advisories-offline", "--cycles-every", "1s"}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, nil, &stdout, &stderr) }()
	ran := regexp.MustCompile(`"msg":"cycle: ran","cycle":"daily","period":"\d{4}-\d{2}-\d{2}","outcome":"nothing-to-propose"`)
	for deadline := time.Now().Add(30 * time.Second); !ran.MatchString(stderr.String()) && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
	}
	cancel()
	if code := <-done; code != 0 || !ran.MatchString(stderr.String()) {
		t.Fatalf("serve exited %d; no cycle run logged:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "cycle.proposal records are only logged") {
		t.Errorf("no warning that the records are not published:\n%s", stderr.String())
	}
	// An empty fleet: nothing to propose, no pull request.
	if n := len(gs.Created()); n != 0 {
		t.Fatalf("%d pull requests for an empty fleet", n)
	}

	errb.Reset()
	a = &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }, now: time.Now}
	if code := a.run(context.Background(), []string{"serve", "-C", repo, "--db", "sqlite://" + filepath.Join(dir, "p2.db"), "--listen", "127.0.0.1:0", "--github-repo", "o/r"}); code != 2 ||
		!strings.Contains(errb.String(), "--github-repo needs the GitHub settings") {
		t.Fatalf("--github-repo alone: exit %d\n%s", code, errb.String())
	}
}
