package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/github"
	"github.com/patchbay/patchbay/engine/github/githubtest"
	"github.com/patchbay/patchbay/engine/store"
)

// TestServeGitHubWebhook starts `patchbay serve` with a webhook secret and a
// token, delivers the real pull_request.opened payload signed, and finds the
// comment and the patchbay/gate status on the GitHub test server; an
// unsigned delivery is refused.
func TestServeGitHubWebhook(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "patches")
	if err := os.CopyFS(repo, os.DirFS(filepath.Join("..", "..", "examples", "quickstart"))); err != nil {
		t.Fatal(err)
	}
	gitIn(t, repo, "init", "-q", "-b", "main")
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "quickstart")
	gitIn(t, repo, "checkout", "-q", "-b", "promote")
	p := filepath.Join(repo, "rings", "pilot.cue")
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p, bytes.Replace(b, []byte(`baseline: "2026-11"`), []byte(`baseline: "2026-11-hotfix-1"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	gitIn(t, repo, "commit", "-q", "-am", "promote")
	head := gitIn(t, repo, "rev-parse", "HEAD")
	gitIn(t, repo, "checkout", "-q", "main")

	gs := githubtest.New(t, "Codertocat", "Hello-World")
	gs.Token = "ghs_server"
	gs.SetPR(githubtest.PR{Number: 2, Author: "sre-platform", HeadSHA: head, BaseRef: "main"})
	secretFile, tokenFile := filepath.Join(dir, "secret"), filepath.Join(dir, "token")
	secret := []byte("webhook secret")
	if err := os.WriteFile(secretFile, append(secret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokenFile, []byte(gs.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-C", repo, "--db", "sqlite://" + filepath.Join(dir, "patchbay.db"), "--listen", "127.0.0.1:0",
			"--github-webhook-secret-file", secretFile, "--github-token-file", tokenFile, "--github-api-url", gs.APIURL()}, nil, &stdout, &stderr)
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
	body, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "testdata", "github-webhooks", "octokit", "pull_request.opened.payload.json"))
	if err != nil {
		t.Skip(err)
	}
	post := func(sig, id string) int {
		req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/github", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "pull_request")
		req.Header.Set("X-GitHub-Delivery", id)
		if sig != "" {
			req.Header.Set("X-Hub-Signature-256", sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("", "d-1"); code != http.StatusUnauthorized {
		t.Fatalf("unsigned delivery: %d, want 401", code)
	}
	if code := post(github.Sign(secret, body), "d-2"); code != http.StatusOK {
		t.Fatalf("signed delivery: %d, want 200\n%s", code, stderr.String())
	}
	cs := gs.CommentsOn(2)
	st := gs.CommitStatuses()
	if len(cs) != 1 || !strings.HasPrefix(cs[0].Body, github.Marker) || len(st) != 1 || st[0].State != "failure" || st[0].SHA != head {
		t.Fatalf("comments %d, statuses %+v", len(cs), st)
	}

	// Merged: the hint reaches the rollout controller, which records it.
	gitIn(t, repo, "merge", "-q", "--no-ff", "-m", "Merge pull request #2", "promote")
	merge := gitIn(t, repo, "rev-parse", "HEAD")
	gs.SetPR(githubtest.PR{Number: 2, Author: "sre-platform", HeadSHA: head, BaseRef: "main", State: "closed", Merged: true, MergeCommitSHA: merge})
	closed, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "testdata", "github-webhooks", "octokit", "pull_request.closed.payload.json"))
	if err != nil {
		t.Fatal(err)
	}
	body = bytes.Replace(closed, []byte(`"merged": false`), []byte(`"merged": true`), 1)
	if code := post(github.Sign(secret, body), "d-3"); code != http.StatusOK {
		t.Fatalf("merged delivery: %d, want 200\n%s", code, stderr.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, stderr.String())
	}
	sto, err := store.Open(context.Background(), "sqlite://"+filepath.Join(dir, "patchbay.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sto.Close()
	hint, err := sto.Mark(context.Background(), "hint:"+merge)
	if err != nil || !strings.Contains(hint, `"PR":2`) || !strings.Contains(hint, head) {
		t.Fatalf("rollout hint mark %q, %v", hint, err)
	}
}

// TestServeRefusesGitHubWithoutSecret: GitHub settings without a webhook
// secret do not start the server.
func TestServeRefusesGitHubWithoutSecret(t *testing.T) {
	var stdout, stderr bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }, now: time.Now}
	code := a.run(context.Background(), []string{"serve", "-C", "../../examples/quickstart", "--db", "sqlite://" + filepath.Join(t.TempDir(), "p.db"),
		"--listen", "127.0.0.1:0", "--github-app-id", "1"})
	if code != exitUsage || !strings.Contains(stderr.String(), "the GitHub webhook needs a secret") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
}
