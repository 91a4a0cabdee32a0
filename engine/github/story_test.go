package github_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/change"
	"github.com/patchbay/patchbay/engine/gate"
	"github.com/patchbay/patchbay/engine/github"
	"github.com/patchbay/patchbay/engine/github/githubtest"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/store"
	"github.com/patchbay/patchbay/engine/store/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// now is the story's clock.
var now = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// gitRepo is a real Git repository holding a copy of examples/quickstart,
// with fixed commit dates so that commit ids (and so the comments) are
// reproducible.
type gitRepo struct {
	t   testing.TB
	dir string
}

func newGitRepo(t testing.TB) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not on PATH")
	}
	r := &gitRepo{t: t, dir: t.TempDir()}
	if err := os.CopyFS(r.dir, os.DirFS(fixture.Path(t, "examples/quickstart"))); err != nil {
		t.Fatal(err)
	}
	r.git("init", "-q", "-b", "main")
	r.git("add", "-A")
	r.git("commit", "-q", "-m", "quickstart")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE=2026-11-20T10:00:00Z", "GIT_COMMITTER_DATE=2026-11-20T10:00:00Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// edit replaces old by new in path and commits.
func (r *gitRepo) edit(path, old, new, msg string) string {
	r.t.Helper()
	p := filepath.Join(r.dir, path)
	b, err := os.ReadFile(p)
	if err != nil {
		r.t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		r.t.Fatalf("%s: %q not found", path, old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// newSigner returns an in-memory P-256 audit signer and its public key PEM.
func newSigner(t *testing.T) (*audit.Signer, []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadECDSASignerVerifier(k, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.NewSigner(sv)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cryptoutils.MarshalPublicKeyToPEM(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return s, pub
}

// verifyCanary writes a signed ring.verified record: canary ran baseline
// id at commit long enough and without failures.
func verifyCanary(t *testing.T, dir, commit, id string, signer *audit.Signer) {
	t.Helper()
	repo, err := gitrepo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	res, err := change.NewEvaluator().Evaluate(context.Background(), change.Request{Repo: repo, Base: commit, Head: commit, Evidence: []gate.Evidence{}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := gitrepo.ParseHash(commit)
	w := &audit.Writer{Repo: repo, Signer: signer, Committer: gitrepo.Signature{Name: "patchbay", Email: "patchbay@localhost"}, Now: func() time.Time { return now }}
	if _, err := w.Write(context.Background(), h, &audit.RingVerified{Ring: "canary", BaselineID: id, BaselineDigest: res.Head.Baselines[id].Digest,
		Commit: commit, SuccessRate: 1, HostsTotal: 2, HostsSucceeded: 2, SoakHours: 80, VerifiedAt: now.Add(-time.Hour),
		TestedSet: []audit.TestedVersion{{Stream: "debian-12", Package: "openssh-client", Version: "1:9.2p1-2+deb12u3", Hosts: 2}}}); err != nil {
		t.Fatal(err)
	}
}

// hints is a fake rollout controller that records its hints.
type hints struct {
	mu  sync.Mutex
	got []github.Hint
}

func (h *hints) Hint(_ context.Context, hint github.Hint) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, hint)
	return nil
}

func (h *hints) all() []github.Hint {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]github.Hint(nil), h.got...)
}

func readReports(t testing.TB) func(context.Context) ([]*inventory.Report, error) {
	return func(ctx context.Context) ([]*inventory.Report, error) {
		var out []*inventory.Report
		dec := &inventory.Decoder{Cache: inventory.NewSetCache()}
		err := inventory.ReadPath(ctx, fixture.Path(t, "examples/quickstart/inventory"), dec, func(r *inventory.Report) error {
			out = append(out, r)
			return nil
		})
		return out, err
	}
}

// normalize replaces the commit ids (full, 12 and 7 characters) by their
// names and the digests that depend on them (effect, input) by
// placeholders, so that the golden files survive changes of the example's
// files; the policy bundle digest stays.
func normalize(body string, commits map[string]string) string {
	for sha, name := range commits {
		body = strings.ReplaceAll(body, sha, name)
		body = strings.ReplaceAll(body, sha[:12], name)
		body = strings.ReplaceAll(body, sha[:7], name)
	}
	for re, repl := range map[string]string{
		"Effect `[0-9a-f]{12}`":        "Effect `<effect>`",
		"input `[0-9a-f]{12}`":         "input `<input>`",
		"input: `sha256:[0-9a-f]{64}`": "input: `<input>`",
	} {
		body = regexp.MustCompile(re).ReplaceAllString(body, repl)
	}
	return body
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

// appServer is a githubtest server with App authentication.
func appServer(t *testing.T, owner, repo string) (*githubtest.Server, *github.AppTokenSource) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	gs := githubtest.New(t, owner, repo)
	gs.AppID, gs.InstallationID, gs.AppKey = 4242, 1, &key.PublicKey
	return gs, &github.AppTokenSource{AppID: 4242, InstallationID: 1, Key: key, APIURL: gs.APIURL()}
}

type story struct {
	t      *testing.T
	gs     *githubtest.Server
	hook   *github.Webhook
	hints  *hints
	repo   *gitRepo
	nextID int
}

func (s *story) deliver(event, file string, edit func([]byte) []byte) (string, int) {
	s.t.Helper()
	body := payload(s.t, file)
	if edit != nil {
		body = edit(body)
	}
	s.nextID++
	id := "story-delivery-" + string(rune('a'+s.nextID))
	code, resp := send(s.t, s.hook, delivery{event: event, id: id, body: body})
	if code != 200 {
		s.t.Fatalf("%s %s: %d %+v", event, file, code, resp)
	}
	return id, code
}

// comment returns the one patchbay comment on PR 2, failing if there is
// not exactly one.
func (s *story) comment() githubtest.Comment {
	s.t.Helper()
	var mine []githubtest.Comment
	for _, c := range s.gs.CommentsOn(2) {
		if strings.HasPrefix(c.Body, github.Marker) {
			mine = append(mine, c)
		}
	}
	if len(mine) != 1 {
		s.t.Fatalf("%d patchbay comments on the pull request, want exactly 1", len(mine))
	}
	return mine[0]
}

func (s *story) lastCheck(sha string) githubtest.CheckRun {
	s.t.Helper()
	runs := s.gs.Checks()
	if len(runs) == 0 {
		s.t.Fatal("no check run")
	}
	c := runs[len(runs)-1]
	if c.Name != github.CheckName || c.HeadSHA != sha || c.Status != "completed" {
		s.t.Fatalf("check run %+v, want %s completed on %s", c, github.CheckName, sha)
	}
	return c
}

// decisions returns the gate.decision records on commit.
func (s *story) decisions(commit string) []*audit.GateDecision {
	s.t.Helper()
	repo, err := gitrepo.Open(s.repo.dir)
	if err != nil {
		s.t.Fatal(err)
	}
	defer repo.Close()
	log, err := audit.Read(context.Background(), repo)
	if err != nil {
		s.t.Fatal(err)
	}
	var out []*audit.GateDecision
	for _, r := range log.Of(audit.KindGateDecision) {
		p, err := r.Decode()
		if err != nil {
			s.t.Fatal(err)
		}
		if d := p.(*audit.GateDecision); d.HeadSHA == commit {
			out = append(out, d)
		}
	}
	return out
}

// TestStory drives a promotion pull request through the webhook, on a real
// Git repository, against the GitHub test server: opened → failing; approved
// on an old commit → still failing; approved on head by non-authors →
// passing; merged → the rollout controller is hinted. The comment is edited
// in place, never duplicated, and pinned by golden files.
func TestStory(t *testing.T) {
	r := newGitRepo(t)
	base := r.git("rev-parse", "HEAD")
	signer, pub := newSigner(t)
	verifyCanary(t, r.dir, base, "2026-11-hotfix-1", signer)
	r.git("checkout", "-q", "-b", "promote-pilot")
	old := r.edit("rings/pilot.cue", `baseline: "2026-11"`, `baseline: "2026-11-hotfix-1"`, "promote 2026-11-hotfix-1 to pilot")
	head := r.edit("rings/pilot.cue", `reboot:`, "// hotfix promotion, see the canary verification\n\treboot:", "pilot: say why")
	r.git("checkout", "-q", "main")

	gs, tokens := appServer(t, "Codertocat", "Hello-World")
	tokens.Now = func() time.Time { return now }
	gs.Now = tokens.Now
	gs.SetPR(githubtest.PR{Number: 2, Author: "sre-platform", HeadSHA: head, BaseRef: "main", Labels: []string{"promotion"}})
	gs.AddComment(2, "someone", "Looks good to me, waiting for the gate.")
	gs.SetCommit(old, "sre-platform", "sre-platform")
	gs.SetCommit(head, "sre-platform", "web-flow") // edited in the browser
	client, err := github.NewClient(github.ClientConfig{APIURL: gs.APIURL(), Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	h := &hints{}
	svc := &github.Service{Client: client, Checks: true, Git: github.LocalGit{Dir: r.dir}, Evaluator: change.NewEvaluator(),
		TrustedKeys: [][]byte{pub}, Reports: readReports(t), Signer: signer, Rollout: h, Now: func() time.Time { return now }}
	hook, err := github.NewWebhook(github.WebhookConfig{Secret: secret, Deliveries: storetest.New(t, store.Options{}), Processor: svc})
	if err != nil {
		t.Fatal(err)
	}
	s := &story{t: t, gs: gs, hook: hook, hints: h, repo: r}

	// 1. Opened: no approvals, the gate fails; one comment is created.
	s.deliver("pull_request", "octokit/pull_request.opened.payload.json", nil)
	c1 := s.comment()
	commits := map[string]string{base: "<base>", old: "<old>", head: "<head>"}
	golden(t, "story-1-opened.md", normalize(c1.Body, commits))
	if c := s.lastCheck(head); c.Conclusion != "failure" {
		t.Fatalf("opened: check %s, want failure", c.Conclusion)
	}
	if n := len(s.decisions(head)); n != 1 {
		t.Fatalf("opened: %d gate.decision records on head, want 1", n)
	}

	// 2. Both approvals are on the old commit: still failing, same comment.
	gs.AddReview(2, githubtest.Review{User: "sre-lead", State: "APPROVED", CommitID: old, SubmittedAt: now.Add(-3 * time.Hour)})
	gs.AddReview(2, githubtest.Review{User: "sre-oncall", State: "APPROVED", CommitID: old, SubmittedAt: now.Add(-3 * time.Hour)})
	s.deliver("pull_request_review", "octokit/pull_request_review.submitted.payload.json", nil)
	c2 := s.comment()
	golden(t, "story-2-stale.md", normalize(c2.Body, commits))
	if c2.ID != c1.ID || c2.Edits != 1 {
		t.Fatalf("stale: comment %d edited %d times, want %d edited once", c2.ID, c2.Edits, c1.ID)
	}
	if c := s.lastCheck(head); c.Conclusion != "failure" {
		t.Fatalf("stale approvals: check %s, want failure", c.Conclusion)
	}

	// 3. Approved on head by two non-authors (the author's own approval
	// does not count): the gate passes. A dismissed review re-gates too.
	gs.AddReview(2, githubtest.Review{User: "sre-platform", State: "APPROVED", CommitID: head, SubmittedAt: now.Add(-time.Hour)})
	gs.AddReview(2, githubtest.Review{User: "sre-lead", State: "COMMENTED", CommitID: head, SubmittedAt: now.Add(-90 * time.Minute)})
	gs.AddReview(2, githubtest.Review{User: "sre-lead", State: "APPROVED", CommitID: head, SubmittedAt: now.Add(-time.Hour)})
	gs.AddReview(2, githubtest.Review{User: "sre-oncall", State: "APPROVED", CommitID: head, SubmittedAt: now.Add(-time.Hour)})
	approvedID, _ := s.deliver("pull_request_review", "octokit/pull_request_review.submitted.payload.json", nil)
	c3 := s.comment()
	golden(t, "story-3-approved.md", normalize(c3.Body, commits))
	if c3.ID != c1.ID || c3.Edits != 2 {
		t.Fatalf("approved: comment %d edited %d times, want %d edited twice", c3.ID, c3.Edits, c1.ID)
	}
	if c := s.lastCheck(head); c.Conclusion != "success" || !strings.Contains(c.Summary, "**pass**") {
		t.Fatalf("approved: check %s (%s), want success with the comment as summary", c.Conclusion, c.Title)
	}
	decs := s.decisions(head)
	if len(decs) != 3 || decs[2].Result != "pass" || !cmp.Equal(decs[2].Approvers, []string{"sre-lead", "sre-oncall"}) || decs[2].PR != 2 || decs[2].BaseSHA != base {
		t.Fatalf("approved: gate.decision records %+v", decs)
	}

	// 4. The same delivery again is acknowledged and changes nothing.
	runs := len(gs.Checks())
	if code, resp := send(t, hook, delivery{event: "pull_request_review", id: approvedID, body: payload(t, "octokit/pull_request_review.submitted.payload.json")}); code != 200 || resp.Status != "duplicate" {
		t.Fatalf("replay: %d %+v", code, resp)
	}
	if c := s.comment(); c.Edits != 2 || len(gs.Checks()) != runs {
		t.Fatalf("replay changed the comment (%d edits) or added check runs (%d → %d)", c.Edits, runs, len(gs.Checks()))
	}

	// 5. A re-run with nothing new leaves the comment as it is (no edit).
	s.deliver("pull_request_review", "octokit/pull_request_review.dismissed.payload.json", nil)
	if c := s.comment(); c.Edits != 2 || c.Body != c3.Body {
		t.Fatalf("unchanged re-run edited the comment (%d edits)", c.Edits)
	}

	// 6. Merged: the rollout controller is hinted with what the API says.
	r.git("merge", "-q", "--no-ff", "-m", "Merge pull request #2 from promote-pilot", "promote-pilot")
	merge := r.git("rev-parse", "HEAD")
	gs.SetPR(githubtest.PR{Number: 2, Author: "sre-platform", HeadSHA: head, BaseRef: "main", State: "closed", Merged: true, MergeCommitSHA: merge})
	s.deliver("pull_request", "octokit/pull_request.closed.payload.json", func(b []byte) []byte {
		// The real "closed" payload is an unmerged close; mark it merged.
		out := strings.Replace(string(b), `"merged": false`, `"merged": true`, 1)
		if out == string(b) {
			t.Fatal("closed payload: merged flag not found")
		}
		return []byte(out)
	})
	want := []github.Hint{{Commit: merge, PR: 2, HeadSHA: head, Author: "sre-platform", Approvers: []string{"sre-lead", "sre-oncall"}}}
	if diff := cmp.Diff(want, h.all()); diff != "" {
		t.Fatalf("rollout hints (-want +got):\n%s", diff)
	}
	if len(gs.CommentsOn(2)) != 2 {
		t.Fatalf("%d comments on the pull request, want the other user's and patchbay's", len(gs.CommentsOn(2)))
	}
	if gs.TokensIssued != 1 || gs.Unauthorized != 0 {
		t.Fatalf("installation tokens issued %d (want 1, reused), unauthorized requests %d", gs.TokensIssued, gs.Unauthorized)
	}
}

// TestOtherBaseIsNotGated (issue 12, item 4): the check is per commit, so
// the same head opened as a second pull request against a branch the
// author controls got patchbay/gate = success there, which also satisfied
// the pull request into main. Now only pull requests into the protected
// branch are gated: the other one gets a neutral check under another name,
// no comment and no gate.decision, and main's failing check stands.
func TestOtherBaseIsNotGated(t *testing.T) {
	r := newGitRepo(t)
	base := r.git("rev-parse", "HEAD")
	signer, pub := newSigner(t)
	verifyCanary(t, r.dir, base, "2026-11-hotfix-1", signer)
	r.git("checkout", "-q", "-b", "promote-pilot")
	head := r.edit("rings/pilot.cue", `baseline: "2026-11"`, `baseline: "2026-11-hotfix-1"`, "promote 2026-11-hotfix-1 to pilot")
	r.git("checkout", "-q", "-b", "attacker", base)
	r.git("checkout", "-q", "main")

	gs, tokens := appServer(t, "Codertocat", "Hello-World")
	tokens.Now = func() time.Time { return now }
	gs.Now = tokens.Now
	gs.SetPR(githubtest.PR{Number: 2, Author: "sre-platform", HeadSHA: head, BaseRef: "main"})
	gs.SetPR(githubtest.PR{Number: 3, Author: "sre-platform", HeadSHA: head, BaseRef: "attacker"})
	gs.SetCommit(head, "sre-platform", "sre-platform")
	// The author's friend approves the pull request into the attacker's branch.
	gs.AddReview(3, githubtest.Review{User: "sre-lead", State: "APPROVED", CommitID: head, SubmittedAt: now.Add(-time.Hour)})
	gs.AddReview(3, githubtest.Review{User: "sre-oncall", State: "APPROVED", CommitID: head, SubmittedAt: now.Add(-time.Hour)})
	client, err := github.NewClient(github.ClientConfig{APIURL: gs.APIURL(), Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	svc := &github.Service{Client: client, Checks: true, Git: github.LocalGit{Dir: r.dir}, Evaluator: change.NewEvaluator(),
		TrustedKeys: [][]byte{pub}, Signer: signer, Now: func() time.Time { return now }}
	hook, err := github.NewWebhook(github.WebhookConfig{Secret: secret, Deliveries: storetest.New(t, store.Options{}), Processor: svc})
	if err != nil {
		t.Fatal(err)
	}
	s := &story{t: t, gs: gs, hook: hook, hints: &hints{}, repo: r}

	s.deliver("pull_request", "octokit/pull_request.opened.payload.json", nil)
	if c := s.lastCheck(head); c.Conclusion != "failure" {
		t.Fatalf("pull request into main: check %s, want failure", c.Conclusion)
	}
	s.deliver("pull_request", "octokit/pull_request.opened.payload.json", func(b []byte) []byte {
		return []byte(strings.ReplaceAll(string(b), `"number": 2,`, `"number": 3,`))
	})
	runs := gs.Checks()
	last := runs[len(runs)-1]
	if last.Name != github.SkippedCheckName("attacker") || last.Conclusion != "neutral" || !strings.Contains(last.Summary, "not the protected branch main") {
		t.Fatalf("pull request into attacker: check %+v, want a neutral %q", last, github.SkippedCheckName("attacker"))
	}
	var gateRuns []githubtest.CheckRun
	for _, c := range runs {
		if c.Name == github.CheckName {
			gateRuns = append(gateRuns, c)
		}
	}
	if len(gateRuns) != 1 || gateRuns[0].Conclusion != "failure" {
		t.Fatalf("%s runs on the head: %+v, want main's one failure", github.CheckName, gateRuns)
	}
	if n := len(gs.CommentsOn(3)); n != 0 {
		t.Errorf("%d comments on the pull request into attacker, want none", n)
	}
	decs := s.decisions(head)
	if len(decs) != 1 || decs[0].PR != 2 || decs[0].BaseRef != "main" || decs[0].BaseSHA != base || decs[0].EffectDigest == "" {
		t.Fatalf("gate.decision records %+v, want one for #2 naming base main at %s", decs, base)
	}
}
