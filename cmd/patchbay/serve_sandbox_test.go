package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/github"
	"github.com/patchbay/patchbay/engine/github/githubtest"
)

// cueBomb is a small baseline whose evaluation never ends in reasonable
// time or memory: a comprehension of 9 million elements.
const cueBomb = `package patchbay

import "list"

baselines: "2026-12-bomb": {
	created: "2026-11-25"
	summary: "n=\(len([for a in list.Range(0, 3000, 1) for b in list.Range(0, 3000, 1) {a + b}]))"
	extends: "2026-11"
	streams: {}
}
`

// regoLoop is a repository policy that never finishes (8e9 iterations).
const regoLoop = `package patchbay.repo.loop

deny contains "never" if {
	some i in numbers.range(1, 2000)
	some j in numbers.range(1, 2000)
	some k in numbers.range(1, 2000)
	i * j * k == -1
}
`

// TestServeSurvivesBombs delivers, through `patchbay serve`'s webhook,
// pull requests whose evaluation has no end: a head with a CUE
// comprehension bomb, and a base whose policy loops. Each is denied with a
// "evaluation exceeded" reason on the pull request, and /healthz answers
// throughout.
func TestServeSurvivesBombs(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "testdata", "github-webhooks", "octokit", "pull_request.opened.payload.json"))
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	repo := filepath.Join(dir, "patches")
	if err := os.CopyFS(repo, os.DirFS(filepath.Join("..", "..", "examples", "quickstart"))); err != nil {
		t.Fatal(err)
	}
	write := func(rel, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(repo, rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitIn(t, repo, "init", "-q", "-b", "main")
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "quickstart")
	gitIn(t, repo, "checkout", "-q", "-b", "bomb")
	write("baselines/2026-12-bomb.cue", cueBomb)
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "a baseline")
	bombHead := gitIn(t, repo, "rev-parse", "HEAD")
	gitIn(t, repo, "checkout", "-q", "main")

	gs := githubtest.New(t, "Codertocat", "Hello-World")
	gs.Token = "ghs_server"
	secretFile, tokenFile := filepath.Join(dir, "secret"), filepath.Join(dir, "token")
	secret := []byte("webhook secret")
	if err := os.WriteFile(secretFile, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokenFile, []byte(gs.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-C", repo, "--db", "sqlite://" + filepath.Join(dir, "patchbay.db"), "--listen", "127.0.0.1:0",
			"--github-webhook-secret-file", secretFile, "--github-token-file", tokenFile, "--github-api-url", gs.APIURL(),
			"--eval-timeout", "3s", "--eval-memory", "256"}, nil, &stdout, &stderr)
	}()
	addr := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+)`)
	var url string
	for deadline := time.Now().Add(20 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := addr.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		t.Fatalf("server did not start:\n%s", stderr.String())
	}

	// /healthz is asked every 20ms while the bombs are delivered.
	var health sync.WaitGroup
	var asked, failed atomic.Int32
	stop := make(chan struct{})
	health.Go(func() {
		c := &http.Client{Timeout: 2 * time.Second}
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			asked.Add(1)
			resp, err := c.Get(url + "/healthz")
			if err != nil || resp.StatusCode != http.StatusOK {
				failed.Add(1)
			}
			if err == nil {
				resp.Body.Close()
			}
		}
	})
	post := func(id string) int {
		req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/github", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "pull_request")
		req.Header.Set("X-GitHub-Delivery", id)
		req.Header.Set("X-Hub-Signature-256", github.Sign(secret, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deniedWith := func(head, what string) {
		t.Helper()
		var st *githubtest.Status
		for _, s := range gs.CommitStatuses() {
			if s.SHA == head {
				st = &s
			}
		}
		if st == nil || st.State != "failure" {
			t.Fatalf("%s: status on %s = %+v, want failure", what, head[:12], st)
		}
		cs := gs.CommentsOn(2)
		if len(cs) == 0 || !strings.Contains(cs[len(cs)-1].Body, "evaluation exceeded 256 MiB / 3s") {
			t.Fatalf("%s: comment does not say the evaluation exceeded its limits:\n%v", what, cs)
		}
	}

	gs.SetPR(githubtest.PR{Number: 2, Author: "sre-platform", HeadSHA: bombHead, BaseRef: "main"})
	if code := post("bomb-1"); code != http.StatusOK {
		t.Fatalf("CUE bomb delivery: %d, want 200 (a denial)\n%s", code, stderr.String())
	}
	deniedWith(bombHead, "CUE bomb")

	// The base branch now holds a looping policy; any pull request to it
	// is denied when the loop is cut off.
	write("policy/loop.rego", regoLoop)
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "a policy")
	gitIn(t, repo, "checkout", "-q", "-b", "harmless")
	write("README.md", "hello\n")
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "readme")
	harmless := gitIn(t, repo, "rev-parse", "HEAD")
	gitIn(t, repo, "checkout", "-q", "main")
	gs.SetPR(githubtest.PR{Number: 2, Author: "sre-platform", HeadSHA: harmless, BaseRef: "main"})
	if code := post("loop-1"); code != http.StatusOK {
		t.Fatalf("Rego loop delivery: %d, want 200 (a denial)\n%s", code, stderr.String())
	}
	deniedWith(harmless, "Rego loop")

	close(stop)
	health.Wait()
	// On a quiet machine both denials take about a second, so a few dozen
	// probes are asked (two were seen at 100ms under -race and load, so
	// they are asked every 20ms); what matters is that none failed.
	if asked.Load() < 3 || failed.Load() > 0 {
		t.Errorf("/healthz: %d asked, %d failed; want it answering throughout", asked.Load(), failed.Load())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, stderr.String())
	}
}

// TestCLIHonoursSIGTERMWhileEvaluating runs `patchbay validate` and
// `patchbay gate` as processes on a checkout holding a CUE bomb and sends
// SIGTERM: each stops within seconds (the sandboxed evaluation is killed),
// instead of evaluating on.
func TestCLIHonoursSIGTERMWhileEvaluating(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "patches")
	if err := os.CopyFS(repo, os.DirFS(filepath.Join("..", "..", "examples", "quickstart"))); err != nil {
		t.Fatal(err)
	}
	gitIn(t, repo, "init", "-q", "-b", "main")
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "quickstart")
	if err := os.WriteFile(filepath.Join(repo, "baselines", "2026-12-bomb.cue"), []byte(cueBomb), 0o644); err != nil {
		t.Fatal(err)
	}
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "bomb")
	// The test binary runs as patchbay when its name is patchbay (see
	// TestMain).
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin", "patchbay")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(exe, bin); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"validate", "-C", repo, "--eval-timeout", "5m"},
		{"gate", "-C", repo, "--base", "HEAD~1", "--eval-timeout", "5m"},
	} {
		t.Run(args[0], func(t *testing.T) {
			var stderr bytes.Buffer
			cmd := exec.Command(bin, args...)
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1500 * time.Millisecond)
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			waited := make(chan error, 1)
			go func() { waited <- cmd.Wait() }()
			select {
			case err := <-waited:
				if err == nil {
					t.Fatalf("exit 0 after SIGTERM; stderr:\n%s", stderr.String())
				}
				if !strings.Contains(stderr.String(), "context canceled") {
					t.Errorf("stderr does not say it was cancelled:\n%s", stderr.String())
				}
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-waited
				t.Fatalf("still evaluating 10s after SIGTERM")
			}
		})
	}
}
