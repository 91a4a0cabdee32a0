package github_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/gate"
	"github.com/patchbay/patchbay/engine/github"
	"github.com/patchbay/patchbay/engine/github/githubtest"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/store"
	"github.com/patchbay/patchbay/engine/store/storetest"
)

// promotion is a repository with a pilot promotion on a branch; it returns
// the repository, the base and the head commit.
func promotion(t testing.TB) (*gitRepo, string, string) {
	r := newGitRepo(t)
	base := r.git("rev-parse", "HEAD")
	r.git("checkout", "-q", "-b", "promote-pilot")
	head := r.edit("rings/pilot.cue", `baseline: "2026-11"`, `baseline: "2026-11-hotfix-1"`, "promote 2026-11-hotfix-1 to pilot")
	r.git("checkout", "-q", "main")
	return r, base, head
}

func tokenService(t *testing.T, gs *githubtest.Server, dir string) *github.Service {
	t.Helper()
	gs.Token = "ghs_actions_token"
	client, err := github.NewClient(github.ClientConfig{APIURL: gs.APIURL(), Tokens: github.StaticToken(gs.Token)})
	if err != nil {
		t.Fatal(err)
	}
	return &github.Service{Client: client, Git: github.LocalGit{Dir: dir}, Now: func() time.Time { return now }}
}

func TestAppTokenIsReusedAndRefreshedBeforeExpiry(t *testing.T) {
	gs, src := appServer(t, "o", "r")
	clock := now
	gs.Now = func() time.Time { return clock }
	src.Now = gs.Now
	gs.TokenTTL = 10 * time.Minute
	ctx := context.Background()
	steps := []struct {
		name    string
		advance time.Duration
		issued  int
	}{
		{"first call mints", 0, 1},
		{"reused while valid", 4 * time.Minute, 1},
		{"refreshed within five minutes of expiry", 2 * time.Minute, 2},
		{"the new token is reused", time.Minute, 2},
	}
	for _, st := range steps {
		clock = clock.Add(st.advance)
		tok, err := src.Token(ctx)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if gs.TokensIssued != st.issued || !strings.HasPrefix(tok, "ghs_") {
			t.Fatalf("%s: token %q, %d issued, want %d", st.name, tok, gs.TokensIssued, st.issued)
		}
	}
}

func TestAppJWTSignedByAnotherKeyIsRefused(t *testing.T) {
	gs, src := appServer(t, "o", "r")
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	src.Key = other
	if _, err := src.Token(context.Background()); err == nil || gs.TokensIssued != 0 {
		t.Fatalf("token minted with the wrong key (err %v)", err)
	}
	src.Key, src.AppID = nil, 0
	if _, err := src.Token(context.Background()); !errors.Is(err, github.ErrAuth) {
		t.Fatalf("no key: err %v, want ErrAuth", err)
	}
}

func TestParsePrivateKey(t *testing.T) {
	if _, err := github.ParsePrivateKey([]byte("not a key")); !errors.Is(err, github.ErrAuth) {
		t.Fatalf("err %v, want ErrAuth", err)
	}
}

// TestStatusFallbackAndInconclusive: with a plain token the result is a
// commit status; without trusted evidence the gate is inconclusive, which
// is a pending status (never success) and a neutral check run.
func TestStatusFallbackAndInconclusive(t *testing.T) {
	r, _, head := promotion(t)
	gs := githubtest.New(t, "o", "r")
	gs.SetPR(githubtest.PR{Number: 7, Author: "sre-platform", HeadSHA: head, BaseRef: "main"})
	gs.AddReview(7, githubtest.Review{User: "sre-lead", State: "APPROVED", CommitID: head, SubmittedAt: now.Add(-time.Hour)})
	gs.AddReview(7, githubtest.Review{User: "sre-oncall", State: "APPROVED", CommitID: head, SubmittedAt: now.Add(-time.Hour)})
	svc := tokenService(t, gs, r.dir)
	out, err := svc.GatePR(context.Background(), github.PRRef{Owner: "o", Repo: "r", Number: 7})
	if err != nil {
		t.Fatal(err)
	}
	if out.Result.Decision.Result != "inconclusive" || out.State != "pending" || !out.CommentCreated {
		t.Fatalf("result %s, state %s, created %v", out.Result.Decision.Result, out.State, out.CommentCreated)
	}
	want := []githubtest.Status{{SHA: head, State: "pending", Context: "patchbay/gate", Description: "inconclusive: 1 missing"}}
	if diff := cmp.Diff(want, gs.CommitStatuses()); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	if len(gs.Checks()) != 0 {
		t.Fatal("a check run was created with a plain token")
	}
	if !strings.Contains(out.Body, "### What is missing") {
		t.Fatalf("comment has no missing list:\n%s", out.Body)
	}
	// With a check run, inconclusive fails by default (a neutral required
	// check would let the change merge); neutral only when asked for.
	svc.Checks = true
	if out, err = svc.GatePR(context.Background(), github.PRRef{Owner: "o", Repo: "r", Number: 7}); err != nil || out.State != "failure" || out.CommentCreated {
		t.Fatalf("checks: state %v created %v err %v", out.State, out.CommentCreated, err)
	}
	svc.InconclusiveNeutral = true
	if out, err = svc.GatePR(context.Background(), github.PRRef{Owner: "o", Repo: "r", Number: 7}); err != nil || out.State != "neutral" {
		t.Fatalf("checks, inconclusive neutral: state %v err %v", out.State, err)
	}
}

// TestPagedListsAreReadToTheEnd: the marker comment and the approvals sit
// on later pages.
func TestPagedListsAreReadToTheEnd(t *testing.T) {
	r, base, head := promotion(t)
	signer, pub := newSigner(t)
	verifyCanary(t, r.dir, base, "2026-11-hotfix-1", signer)
	gs := githubtest.New(t, "o", "r")
	gs.PerPage = 2
	gs.SetPR(githubtest.PR{Number: 3, Author: "sre-platform", HeadSHA: head, BaseRef: "main"})
	for range 3 {
		gs.AddReview(3, githubtest.Review{User: "someone", State: "COMMENTED", CommitID: head, SubmittedAt: now.Add(-2 * time.Hour)})
	}
	gs.AddReview(3, githubtest.Review{User: "sre-lead", State: "APPROVED", CommitID: head, SubmittedAt: now.Add(-time.Hour)})
	gs.AddReview(3, githubtest.Review{User: "sre-oncall", State: "APPROVED", CommitID: head, SubmittedAt: now.Add(-time.Hour)})
	svc := tokenService(t, gs, r.dir)
	svc.TrustedKeys = [][]byte{pub}
	for range 3 {
		gs.AddComment(3, "someone", "a comment")
	}
	out, err := svc.GatePR(context.Background(), github.PRRef{Owner: "o", Repo: "r", Number: 3})
	if err != nil {
		t.Fatal(err)
	}
	if out.State != "success" || !out.CommentCreated {
		t.Fatalf("state %s created %v:\n%s", out.State, out.CommentCreated, out.Body)
	}
	gs.AddComment(3, "someone", "another comment after patchbay's")
	gs.AddComment(3, "someone", "and one more")
	gs.AddReview(3, githubtest.Review{User: "sre-oncall", State: "CHANGES_REQUESTED", CommitID: head, SubmittedAt: now.Add(-time.Minute)})
	out, err = svc.GatePR(context.Background(), github.PRRef{Owner: "o", Repo: "r", Number: 3})
	if err != nil {
		t.Fatal(err)
	}
	if out.State != "failure" || out.CommentCreated {
		t.Fatalf("second run: state %s created %v", out.State, out.CommentCreated)
	}
	n := 0
	for _, c := range gs.CommentsOn(3) {
		if strings.HasPrefix(c.Body, github.Marker) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d patchbay comments, want 1", n)
	}
}

// TestInvalidHeadFailsWithItsProblems: a head that does not validate gets
// a failing check and a comment naming the problem.
func TestInvalidHeadFailsWithItsProblems(t *testing.T) {
	r := newGitRepo(t)
	r.git("checkout", "-q", "-b", "broken")
	head := r.edit("rings/pilot.cue", `baseline: "2026-11"`, `baseline: "no-such-baseline"`, "pin a baseline that does not exist")
	r.git("checkout", "-q", "main")
	gs := githubtest.New(t, "o", "r")
	gs.SetPR(githubtest.PR{Number: 4, Author: "sre-platform", HeadSHA: head, BaseRef: "main"})
	out, err := tokenService(t, gs, r.dir).GatePR(context.Background(), github.PRRef{Owner: "o", Repo: "r", Number: 4})
	if err != nil {
		t.Fatal(err)
	}
	if out.State != "failure" || !strings.Contains(out.Body, "could not be evaluated") || !strings.Contains(out.Body, "no-such-baseline") {
		t.Fatalf("state %s:\n%s", out.State, out.Body)
	}
}

// TestCommentCommandNeedsWritePermission runs /patchbay gate from the real
// comment-on-PR payload: a reader is ignored, a writer re-runs the gate.
func TestCommentCommandNeedsWritePermission(t *testing.T) {
	r, _, head := promotion(t)
	gs := githubtest.New(t, "abc", "def-ci-webhook-test")
	gs.SetPR(githubtest.PR{Number: 2, Author: "sre-platform", HeadSHA: head, BaseRef: "main"})
	svc := tokenService(t, gs, r.dir)
	hook, err := github.NewWebhook(github.WebhookConfig{Secret: secret, Deliveries: storetest.New(t, store.Options{}), Processor: svc})
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Replace(payload(t, "drone-go-scm/issue_comment.created.on-pull-request.json"), []byte(`"body": "trigger abc"`), []byte(`"body": "/patchbay plan"`), 1)
	for _, tt := range []struct {
		name, permission string
		comments         int
	}{
		{"not a collaborator", "", 0},
		{"read", "read", 0},
		{"triage", "triage", 0},
		{"write", "write", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gs.Lock()
			delete(gs.Permissions, "lts-def")
			if tt.permission != "" {
				gs.Permissions["lts-def"] = tt.permission
			}
			gs.Unlock()
			code, resp := send(t, hook, delivery{event: "issue_comment", id: "cmd-" + tt.name, body: body})
			if code != 200 {
				t.Fatalf("%d %+v", code, resp)
			}
			if n := len(gs.CommentsOn(2)); n != tt.comments {
				t.Fatalf("%d comments, want %d", n, tt.comments)
			}
		})
	}
	if gs.Count("GET /repos/{owner}/{repo}/collaborators/{user}/permission") != 4 {
		t.Fatal("the commenter's permission was not asked each time")
	}
}

func TestPushToMainHints(t *testing.T) {
	h := &hints{}
	svc := &github.Service{Rollout: h}
	hook, err := github.NewWebhook(github.WebhookConfig{Secret: secret, Deliveries: storetest.New(t, store.Options{}), Processor: svc, MainBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := send(t, hook, delivery{event: "push", id: "push-1", body: payload(t, "woodpecker/push.json")}); code != 200 {
		t.Fatalf("push: %d", code)
	}
	// The octokit push goes to master, which is not the configured branch.
	if code, _ := send(t, hook, delivery{event: "push", id: "push-2", body: payload(t, "octokit/push.with-new-branch.payload.json")}); code != 202 {
		t.Fatalf("push to another branch: %d, want 202", code)
	}
	want := []github.Hint{{Commit: "366701fde727cb7a9e7f21eb88264f59f6f9b89c"}}
	if diff := cmp.Diff(want, h.all()); diff != "" {
		t.Fatalf("hints (-want +got):\n%s", diff)
	}
}

func TestCommandParsing(t *testing.T) {
	for _, tt := range []struct {
		body, cmd string
		ok        bool
	}{
		{"/patchbay plan", "plan", true},
		{"\n  /patchbay gate  \r\n", "gate", true},
		{"/patchbay gate please", "", false},
		{"/patchbay deploy", "", false},
		{"please run\n/patchbay gate", "", false},
		{"", "", false},
	} {
		cmd, ok := github.ParseCommand(tt.body)
		if cmd != tt.cmd || ok != tt.ok {
			t.Errorf("ParseCommand(%q) = %q, %v; want %q, %v", tt.body, cmd, ok, tt.cmd, tt.ok)
		}
	}
}

func TestCommentStaysUnderGitHubsLimit(t *testing.T) {
	big := errors.New(strings.Repeat("a problem with a long description\n", 5000))
	body := github.CommentMarkdown(github.CommentInput{Err: big, HeadSHA: "52745c4ac6b5f8de217c9e7cc7d4cb2ee3003a0a"})
	if len(body) > github.MaxCommentBytes || !strings.HasPrefix(body, github.Marker) || !strings.Contains(body, "cut:") {
		t.Fatalf("len %d, marker %v", len(body), strings.HasPrefix(body, github.Marker))
	}
}

func TestNewServerWebhookRefusesWithoutSecretOrCredentials(t *testing.T) {
	st := storetest.New(t, store.Options{})
	git := github.LocalGit{Dir: t.TempDir()}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pemRSA(key)
	for _, tt := range []struct {
		name   string
		cfg    github.ServerConfig
		err    error
		checks bool
	}{
		{name: "no secret", cfg: github.ServerConfig{Token: "t", Git: git, Deliveries: st}, err: github.ErrNoSecret},
		{name: "no credentials", cfg: github.ServerConfig{Secret: secret, Git: git, Deliveries: st}, err: github.ErrAuth},
		{name: "app without installation", cfg: github.ServerConfig{Secret: secret, AppID: 1, AppKeyPEM: keyPEM, Git: git, Deliveries: st}, err: github.ErrAuth},
		{name: "app with a bad key", cfg: github.ServerConfig{Secret: secret, AppID: 1, InstallationID: 2, AppKeyPEM: []byte("x"), Git: git, Deliveries: st}, err: github.ErrAuth},
		{name: "app", cfg: github.ServerConfig{Secret: secret, AppID: 1, InstallationID: 2, AppKeyPEM: keyPEM, Git: git, Deliveries: st}, checks: true},
		{name: "token", cfg: github.ServerConfig{Secret: secret, Token: "t", APIURL: "https://ghe.example.com", Git: git, Deliveries: st}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, svc, err := github.NewServerWebhook(tt.cfg)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err == nil && svc.Checks != tt.checks {
				t.Fatalf("checks %v, want %v", svc.Checks, tt.checks)
			}
			if tt.name == "token" && svc.Client.BaseURL.String() != "https://ghe.example.com/api/v3/" {
				t.Fatalf("enterprise base URL %s", svc.Client.BaseURL)
			}
		})
	}
}

func pemRSA(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// TestApprovalByLastPusherDoesNotCount: sre-oncall pushed the head commit
// onto sre-platform's pull request; sre-oncall's approval does not count,
// whichever event triggers the evaluation.
func TestApprovalByLastPusherDoesNotCount(t *testing.T) {
	r, base, head := promotion(t)
	signer, pub := newSigner(t)
	verifyCanary(t, r.dir, base, "2026-11-hotfix-1", signer)
	gs := githubtest.New(t, "o", "r")
	gs.SetPR(githubtest.PR{Number: 5, Author: "sre-platform", HeadSHA: head, BaseRef: "main"})
	gs.AddReview(5, githubtest.Review{User: "sre-lead", State: "APPROVED", CommitID: head, SubmittedAt: now.Add(-time.Hour)})
	gs.AddReview(5, githubtest.Review{User: "sre-oncall", State: "APPROVED", CommitID: head, SubmittedAt: now.Add(-time.Hour)})
	svc := tokenService(t, gs, r.dir)
	svc.TrustedKeys = [][]byte{pub}
	for _, tt := range []struct {
		name              string
		author, committer string
		state             string
		approvers         []string
	}{
		{"not on GitHub yet", "", "", "success", []string{"sre-lead", "sre-oncall"}},
		{"pushed by the author", "sre-platform", "sre-platform", "success", []string{"sre-lead", "sre-oncall"}},
		{"pushed by an approver", "sre-platform", "sre-oncall", "failure", []string{"sre-lead"}},
		{"web edit by an approver", "sre-oncall", "web-flow", "failure", []string{"sre-lead"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gs.Lock()
			delete(gs.Commits, head)
			gs.Unlock()
			if tt.author != "" {
				gs.SetCommit(head, tt.author, tt.committer)
			}
			out, err := svc.GatePR(context.Background(), github.PRRef{Owner: "o", Repo: "r", Number: 5})
			if err != nil {
				t.Fatal(err)
			}
			if out.State != tt.state || !cmp.Equal(out.Result.Approvers, tt.approvers) {
				t.Fatalf("state %s approvers %v, want %s %v", out.State, out.Result.Approvers, tt.state, tt.approvers)
			}
		})
	}
}

// TestMirrorGitFetchesPullRefs: the server's mirror of the patch repository
// sees a pull request head that only refs/pull/N/head points to (a fork's
// branch), and fetches again for the next evaluation.
func TestMirrorGitFetchesPullRefs(t *testing.T) {
	r, _, head := promotion(t)
	r.git("update-ref", "refs/pull/6/head", head)
	r.git("branch", "-q", "-D", "promote-pilot")
	gs := githubtest.New(t, "o", "r")
	gs.SetPR(githubtest.PR{Number: 6, Author: "sre-platform", HeadSHA: head, BaseRef: "main"})
	svc := tokenService(t, gs, "")
	svc.Git = github.MirrorGit{Remote: gitrepo.Remote{URL: r.dir, CacheDir: t.TempDir()}}
	out, err := svc.GatePR(context.Background(), github.PRRef{Owner: "o", Repo: "r", Number: 6})
	if err != nil {
		t.Fatal(err)
	}
	if out.Result.HeadCommit != head || out.State != "failure" {
		t.Fatalf("head %s state %s", out.Result.HeadCommit, out.State)
	}
	// A new push to the pull request is fetched on the next evaluation.
	r.git("checkout", "-q", head)
	next := r.edit("rings/pilot.cue", "reboot:", "// why\n\treboot:", "pilot: say why")
	r.git("update-ref", "refs/pull/6/head", next)
	r.git("checkout", "-q", "main")
	gs.SetPR(githubtest.PR{Number: 6, Author: "sre-platform", HeadSHA: next, BaseRef: "main"})
	if out, err = svc.GatePR(context.Background(), github.PRRef{Owner: "o", Repo: "r", Number: 6}); err != nil || out.Result.HeadCommit != next {
		t.Fatalf("after a push: %v", err)
	}
}

func TestMissingSaysWhatIsNeeded(t *testing.T) {
	d := gate.Decision{
		Errors: []string{"policy/x.rego:3: rego_parse_error"},
		Deny: []gate.Finding{
			{ID: "promotion.approvals.insufficient", Msg: "ring pilot: 1 of 2 required approvals from sre on head commit c0ffee00c0ff (counted: alice)"},
			{ID: "promotion.approvals.insufficient", Msg: "ring prod: 0 of 2 required approvals from sre, security on head commit c0ffee00c0ff (counted: none)"},
			{ID: "promotion.approvals.insufficient", Msg: "a repository's own wording"},
			{ID: "promotion.freeze", Msg: "ring prod is frozen until 2027-01-04 (year-end change freeze)"},
		},
		Missing: []gate.Finding{{ID: "promotion.evidence.missing", Msg: "ring canary has no verification of 2026-11-hotfix-1"}},
	}
	want := []string{
		"policy evaluation error: policy/x.rego:3: rego_parse_error",
		"ring pilot needs 1 more approval from group sre on commit c0ffee0 (counted: alice) (rule promotion.approvals.insufficient)",
		"ring prod needs 2 more approvals from groups sre, security on commit c0ffee0 (counted: none) (rule promotion.approvals.insufficient)",
		"a repository's own wording (rule promotion.approvals.insufficient)",
		"ring prod is frozen until 2027-01-04 (year-end change freeze) (rule promotion.freeze)",
		"ring canary has no verification of 2026-11-hotfix-1 (rule promotion.evidence.missing)",
	}
	if diff := cmp.Diff(want, github.Missing(d)); diff != "" {
		t.Fatalf("Missing (-want +got):\n%s", diff)
	}
}
