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

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/github/githubtest"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
)

// TestServeCyclesPublishRecords: with --repo and --signing-key, each
// cycle run is a cycle.proposal record that goes through the rollout
// controller's outbox, is signed and pushed to the repository's
// refs/notes/patchbay with the server's other records, and shows in
// `patchbay audit log` of a fresh clone.
func TestServeCyclesPublishRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server against a Git HTTP remote")
	}
	srv := gitrepotest.NewServer(t)
	// serve does not wait for its background fetches when it returns: a
	// directory of its own, removed once they are done.
	dir, err := os.MkdirTemp("", "patchbay-cycles-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 50 && os.RemoveAll(dir) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	g := gitrepotest.New(t)
	_, files := quickstartFiles(t)
	files["patchbay.cue"] += "\nconfig: cycles: [{name: \"daily\", schedule: every: \"day\"}]\n"
	g.Commit("quickstart with a daily cycle", files)
	remote := srv.Publish(t, "patches", g)

	shared := filepath.Join("..", "..", "..", "shared", "testdata", "advisories")
	if _, err := os.Stat(shared); err != nil {
		t.Skip("no shared test data")
	}
	cache := filepath.Join(dir, "advisories")
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }, now: time.Now}
	if code := a.run(context.Background(), []string{"advisories", "sync", "--cache", cache, "--from", filepath.Join(shared, "ubuntu", "ubuntu-security-notices")}); code != 0 {
		t.Fatalf("sync: %d\n%s", code, errb.String())
	}
	priv, _, err := audit.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envKeyPassword, "pw")
	gs := githubtest.New(t, "o", "r")
	gs.Token = "ghs_server"
	if err := gs.ServeGit(srv.Dir("patches")); err != nil {
		t.Fatal(err)
	}
	keyFile, gitTok, secretFile, ghTok := filepath.Join(dir, "key.pem"), filepath.Join(dir, "git-token"), filepath.Join(dir, "secret"), filepath.Join(dir, "gh-token")
	for f, b := range map[string][]byte{keyFile: priv, gitTok: []byte(srv.Password + "\n"), secretFile: []byte("s\n"), ghTok: []byte(gs.Token + "\n")} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--repo", remote, "--git-username", srv.User, "--git-token-file", gitTok, "--signing-key", keyFile,
			"--db", "sqlite://" + filepath.Join(dir, "p.db"), "--listen", "127.0.0.1:0", "--interval", "300ms", "--tick", "300ms", "--cache-dir", filepath.Join(dir, "cache"),
			"--github-webhook-secret-file", secretFile, "--github-token-file", ghTok, "--github-api-url", gs.APIURL(),
			"--github-repo", "o/r", "--advisories-cache", cache, "--advisories-offline", "--cycles-every", "1s"}, nil, &stdout, &stderr)
	}()
	clone := filepath.Join(dir, "clone")
	var log string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d:\n%s", code, stderr.String())
		default:
		}
		os.RemoveAll(clone)
		if out, err := exec.Command("git", "clone", "-q", srv.AuthURL(remote), clone).CombinedOutput(); err != nil {
			t.Fatalf("clone: %v\n%s", err, out)
		}
		if exec.Command("git", "-C", clone, "fetch", "-q", "origin", "refs/notes/patchbay:refs/notes/patchbay").Run() != nil {
			continue
		}
		var lo bytes.Buffer
		la := &app{stdin: strings.NewReader(""), stdout: &lo, stderr: &errb, getenv: func(string) string { return "" }, now: time.Now}
		if la.run(context.Background(), []string{"audit", "log", "-C", clone}) == 0 && strings.Contains(lo.String(), "cycle daily") {
			log = lo.String()
			break
		}
	}
	cancel()
	<-done
	if !strings.Contains(log, "cycle daily") || !strings.Contains(log, "nothing-to-propose") {
		t.Fatalf("no cycle.proposal record in the pushed notes:\n%s\nserver:\n%s", log, stderr.String())
	}
	if strings.Contains(stderr.String(), "only logged") {
		t.Error("the server says the records are only logged while it publishes them")
	}
}
