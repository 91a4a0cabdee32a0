package github_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gh "github.com/google/go-github/v60/github"

	"github.com/patchbay/patchbay/engine/github"
	"github.com/patchbay/patchbay/engine/github/githubtest"
)

func proposal(files map[string][]byte) github.Proposal {
	return github.Proposal{Owner: "o", Repo: "r", Base: "main", Branch: "patchbay/cycle/monthly/2026-12-08", Files: files,
		Message: "monthly: propose baseline x", Title: "patchbay monthly: baseline x", Body: "## Proposed baseline"}
}

// TestOpenProposal: the proposal becomes real Git objects in the
// repository GitHub serves (a commit on the base head with the file added,
// the branch, refs/pull/N/head) and one pull request; a second run for the
// same branch (a restart) finds that pull request and commits nothing.
func TestOpenProposal(t *testing.T) {
	r := newGitRepo(t)
	base := r.git("rev-parse", "main")
	gs := githubtest.New(t, "o", "r")
	if err := gs.ServeGit(r.dir); err != nil {
		t.Fatal(err)
	}
	svc := tokenService(t, gs, r.dir)
	content := []byte("package patchbay\n\n// proposed\n")
	op, err := github.OpenProposal(context.Background(), svc.Client, proposal(map[string][]byte{"baselines/x.cue": content}))
	if err != nil {
		t.Fatal(err)
	}
	if op.Number != 1 || op.Existing || op.BaseSHA != base || len(op.HeadSHA) != 40 {
		t.Fatalf("opened %+v", op)
	}
	if got := r.git("rev-parse", "patchbay/cycle/monthly/2026-12-08"); got != op.HeadSHA {
		t.Fatalf("branch at %s, pull request head %s", got, op.HeadSHA)
	}
	if got := r.git("rev-parse", "refs/pull/1/head"); got != op.HeadSHA {
		t.Fatalf("refs/pull/1/head at %s", got)
	}
	if got := r.git("rev-parse", op.HeadSHA+"^"); got != base {
		t.Fatalf("parent %s, want the base head %s", got, base)
	}
	if got := r.git("show", op.HeadSHA+":baselines/x.cue"); got+"\n" != string(content) {
		t.Fatalf("file content %q", got)
	}
	// Everything else of the base tree is kept.
	if got := r.git("diff", "--name-status", base, op.HeadSHA); got != "A\tbaselines/x.cue" {
		t.Fatalf("diff against base: %q", got)
	}
	if r.git("fsck", "--strict", "--no-dangling") != "" {
		t.Fatal("git fsck complains")
	}
	prs := gs.Created()
	if len(prs) != 1 || prs[0].HeadRef != "patchbay/cycle/monthly/2026-12-08" || prs[0].BaseRef != "main" || prs[0].Author != githubtest.BotLogin || prs[0].Body != "## Proposed baseline" {
		t.Fatalf("pull requests %+v", prs)
	}

	again, err := github.OpenProposal(context.Background(), svc.Client, proposal(map[string][]byte{"baselines/x.cue": content}))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Existing || again.Number != 1 || again.HeadSHA != op.HeadSHA {
		t.Fatalf("second run %+v, want the existing pull request #1", again)
	}
	if n := len(gs.Created()); n != 1 {
		t.Fatalf("%d pull requests after a rerun", n)
	}
	if n := gs.Count("POST /repos/{owner}/{repo}/git/commits"); n != 1 {
		t.Fatalf("%d commits created, want 1", n)
	}

	// A branch left by a run that died before opening its pull request is
	// reused: the pull request is opened for it, once.
	branch := "patchbay/cycle/kev/kev-2026-12-01-00000000"
	r.git("checkout", "-q", "-b", branch, "main")
	left := r.commit("baselines/y.cue", string(content), "kev: propose y")
	r.git("checkout", "-q", "main")
	orphan := proposal(map[string][]byte{"baselines/y.cue": content})
	orphan.Branch = branch
	op2, err := github.OpenProposal(context.Background(), svc.Client, orphan)
	if err != nil {
		t.Fatal(err)
	}
	if !op2.Existing || op2.Number != 2 || op2.HeadSHA != left {
		t.Fatalf("left branch: %+v, want pull request #2 at %s", op2, left)
	}
	// A branch with nothing over main opens nothing, as on GitHub.
	r.git("branch", "patchbay/cycle/kev/empty", "main")
	empty := orphan
	empty.Branch = "patchbay/cycle/kev/empty"
	if _, err := github.OpenProposal(context.Background(), svc.Client, empty); err == nil || !strings.Contains(err.Error(), "No commits between") {
		t.Fatalf("a branch with no commits over main: %v", err)
	}
}

// TestGitDataAPIValidates: the test server refuses what GitHub refuses —
// no credentials, an existing branch (422), missing fields, an oversized
// body, a second pull request from the same branch — and OpenProposal
// refuses a bad proposal before sending anything.
func TestGitDataAPIValidates(t *testing.T) {
	r := newGitRepo(t)
	base := r.git("rev-parse", "main")
	gs := githubtest.New(t, "o", "r")
	if err := gs.ServeGit(r.dir); err != nil {
		t.Fatal(err)
	}
	svc := tokenService(t, gs, r.dir)
	ctx := context.Background()
	c := svc.Client
	status := func(resp *gh.Response) int {
		if resp == nil {
			return 0
		}
		return resp.StatusCode
	}

	anon, _ := github.NewClient(github.ClientConfig{APIURL: gs.APIURL(), Tokens: github.StaticToken("wrong")})
	if _, resp, err := anon.Git.CreateRef(ctx, "o", "r", &gh.Reference{Ref: gh.String("refs/heads/x"), Object: &gh.GitObject{SHA: gh.String(base)}}); err == nil || status(resp) != 401 {
		t.Fatalf("bad token: %v", err)
	}
	if _, resp, err := c.Git.CreateRef(ctx, "o", "r", &gh.Reference{Ref: gh.String("refs/heads/main"), Object: &gh.GitObject{SHA: gh.String(base)}}); err == nil || status(resp) != 422 ||
		!strings.Contains(err.Error(), "Reference already exists") {
		t.Fatalf("existing branch: %v", err)
	}
	if _, resp, err := c.Git.CreateRef(ctx, "o", "r", &gh.Reference{Ref: gh.String("refs/x"), Object: &gh.GitObject{SHA: gh.String(base)}}); err == nil || status(resp) != 422 {
		t.Fatalf("ref with one slash: %v", err)
	}
	if _, resp, err := c.Git.CreateRef(ctx, "o", "r", &gh.Reference{Ref: gh.String("refs/heads/x"), Object: &gh.GitObject{SHA: gh.String(strings.Repeat("0", 40))}}); err == nil || status(resp) != 422 {
		t.Fatalf("missing object: %v", err)
	}
	if _, resp, err := c.Git.CreateCommit(ctx, "o", "r", &gh.Commit{Tree: &gh.Tree{SHA: gh.String(base)}, Message: gh.String("m")}, nil); err == nil || status(resp) != 422 {
		t.Fatalf("a commit as tree: %v", err)
	}
	if _, resp, err := c.Git.CreateCommit(ctx, "o", "r", &gh.Commit{Tree: &gh.Tree{SHA: gh.String(r.git("rev-parse", "main^{tree}"))}}, nil); err == nil || status(resp) != 422 {
		t.Fatalf("commit without message: %v", err)
	}
	if _, resp, err := c.Git.CreateTree(ctx, "o", "r", "", []*gh.TreeEntry{{Path: gh.String("../x"), Mode: gh.String("100644"), Type: gh.String("blob"), SHA: gh.String(base)}}); err == nil || status(resp) != 422 {
		t.Fatalf("tree with ../: %v", err)
	}
	if _, resp, err := c.PullRequests.Create(ctx, "o", "r", &gh.NewPullRequest{Title: gh.String("t"), Head: gh.String("nope"), Base: gh.String("main")}); err == nil || status(resp) != 422 {
		t.Fatalf("unknown head: %v", err)
	}
	r.git("branch", "side", "main")
	r.git("checkout", "-q", "side")
	r.git("commit", "-q", "--allow-empty", "-m", "side")
	r.git("checkout", "-q", "main")
	if _, resp, err := c.PullRequests.Create(ctx, "o", "r", &gh.NewPullRequest{Head: gh.String("side"), Base: gh.String("main")}); err == nil || status(resp) != 422 {
		t.Fatalf("no title: %v", err)
	}
	long := strings.Repeat("x", githubtest.MaxBodyChars+1)
	if _, resp, err := c.PullRequests.Create(ctx, "o", "r", &gh.NewPullRequest{Title: gh.String("t"), Head: gh.String("side"), Base: gh.String("main"), Body: &long}); err == nil || status(resp) != 422 {
		t.Fatalf("long body: %v", err)
	}
	if _, _, err := c.PullRequests.Create(ctx, "o", "r", &gh.NewPullRequest{Title: gh.String("t"), Head: gh.String("o:side"), Base: gh.String("main")}); err != nil {
		t.Fatal(err)
	}
	if _, resp, err := c.PullRequests.Create(ctx, "o", "r", &gh.NewPullRequest{Title: gh.String("t"), Head: gh.String("side"), Base: gh.String("main")}); err == nil || status(resp) != 422 ||
		!strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second pull request from one branch: %v", err)
	}

	before := len(gs.Created())
	for name, p := range map[string]github.Proposal{
		"no files":     func() github.Proposal { p := proposal(nil); return p }(),
		"escaping":     proposal(map[string][]byte{"../x.cue": nil}),
		"body too big": func() github.Proposal { p := proposal(map[string][]byte{"x": nil}); p.Body = long; return p }(),
		"same branch":  func() github.Proposal { p := proposal(map[string][]byte{"x": nil}); p.Branch = "main"; return p }(),
	} {
		if _, err := github.OpenProposal(ctx, c, p); !errors.Is(err, github.ErrProposalInvalid) {
			t.Errorf("%s: got %v, want ErrProposalInvalid", name, err)
		}
	}
	if len(gs.Created()) != before {
		t.Error("an invalid proposal opened a pull request")
	}
}

// commit writes path and commits it on the current branch.
func (r *gitRepo) commit(path, content, msg string) string {
	r.t.Helper()
	if err := os.MkdirAll(filepath.Dir(filepath.Join(r.dir, path)), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, path), []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.git("add", path)
	r.git("commit", "-q", "-m", msg)
	return r.git("rev-parse", "HEAD")
}
