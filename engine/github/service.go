package github

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/change"
	"github.com/patchbay/patchbay/engine/gate"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/inventory"
)

// Hint tells the rollout controller to look at the main branch now: a pull
// request was merged or the branch was pushed. It mirrors rollout.Hint.
type Hint struct {
	// Commit is the merge commit (or the pushed head), as GitHub reports
	// it; the controller reads the branch from Git itself.
	Commit string
	// PR, HeadSHA, Author and Approvers describe the merged pull request
	// (zero for a push).
	PR        int
	HeadSHA   string
	Author    string
	Approvers []string
}

// RolloutHinter is the rollout controller as this package needs it.
type RolloutHinter interface {
	Hint(ctx context.Context, h Hint) error
}

// GitSource makes a pull request's commits available locally.
type GitSource interface {
	// Sync fetches (if needed) and returns the repository and the
	// revision of baseBranch's head; the caller closes the repository.
	Sync(ctx context.Context, pr int, baseBranch string) (*gitrepo.Repo, string, error)
}

// LocalGit is a checkout already holding the commits (CI, tests): the base
// branch resolves as refs/remotes/<Remote>/<branch>, then as the branch.
type LocalGit struct {
	Dir string
	// Remote is the remote whose tracking branch is the base; empty means
	// "origin".
	Remote string
}

// Sync opens the checkout and resolves the base branch.
func (l LocalGit) Sync(_ context.Context, _ int, baseBranch string) (*gitrepo.Repo, string, error) {
	repo, err := gitrepo.Open(l.Dir)
	if err != nil {
		return nil, "", fmt.Errorf("open %s: %w", l.Dir, err)
	}
	remote := l.Remote
	if remote == "" {
		remote = "origin"
	}
	for _, rev := range []string{"refs/remotes/" + remote + "/" + baseBranch, "refs/heads/" + baseBranch} {
		if h, err := repo.Resolve(rev); err == nil {
			return repo, h.String(), nil
		}
	}
	repo.Close()
	return nil, "", fmt.Errorf("base branch %q: not found in %s (fetch it first)", baseBranch, l.Dir)
}

// MirrorGit is a bare mirror of the remote (refs/pull/* included), fetched
// before each evaluation.
type MirrorGit struct {
	Remote gitrepo.Remote
}

// Sync clones or fetches the mirror and resolves the base branch.
func (m MirrorGit) Sync(ctx context.Context, _ int, baseBranch string) (*gitrepo.Repo, string, error) {
	repo, err := gitrepo.CloneOrFetch(ctx, m.Remote)
	if err != nil {
		return nil, "", err
	}
	h, err := repo.Resolve("refs/heads/" + baseBranch)
	if err != nil {
		repo.Close()
		return nil, "", fmt.Errorf("base branch %q: %w", baseBranch, err)
	}
	return repo, h.String(), nil
}

// Service evaluates pull requests and reports back to GitHub. Client and
// Git are required.
type Service struct {
	Client *gh.Client
	// Checks reports with a check run (GitHub App); false means a commit
	// status with the same context name (a token without App identity).
	Checks bool
	// InconclusiveNeutral reports an inconclusive result as a neutral check
	// run. The default reports it as failure: GitHub counts neutral as
	// passing for a required check, so neutral would let a change with
	// missing evidence merge (fail closed). A commit status is pending when
	// inconclusive either way.
	InconclusiveNeutral bool
	Git                 GitSource
	// Evaluator is shared across evaluations; nil means a new one.
	Evaluator *change.Evaluator
	// TrustedKeys are public keys (PEM) trusted for evidence records in
	// addition to the base config's trustedKeys.
	TrustedKeys [][]byte
	// Reports gives the latest host reports for the plan delta; nil
	// means none (the comment then shows the effect without a delta).
	Reports func(ctx context.Context) ([]*inventory.Report, error)
	// Signer, when set, signs a gate.decision audit record written on the
	// head commit of each evaluation (notes under refs/notes/patchbay);
	// PushRemote, when set, pushes the notes to that remote.
	Signer     *audit.Signer
	PushRemote string
	// Outbox, when set, takes the gate.decision records instead of Signer
	// and PushRemote: the server's rollout controller signs them and
	// publishes them with its own records, in one chain.
	Outbox RecordSink
	// Rollout receives hints for merges and pushes; nil drops them.
	Rollout RolloutHinter
	// MainBranch is the protected branch: only pull requests into it are
	// gated. Empty means the config.mainBranch of the repository's default
	// branch (read from that branch, never from the pull request's base).
	MainBranch string
	Now        func() time.Time
	Logger     *slog.Logger
}

// Outcome is what one pull request evaluation did.
type Outcome struct {
	Result    *change.Result
	EvalErr   error
	HeadSHA   string
	CommentID int64
	// CommentCreated is true when the comment was created rather than
	// edited.
	CommentCreated bool
	// State is the check conclusion or status state that was set.
	State string
	Body  string
	// Skipped says why the pull request was not evaluated (its base is
	// not the protected branch); Result is then nil.
	Skipped string
}

// protectedBranch returns s.MainBranch, or the config.mainBranch of the
// repository's default branch (def, "main" when unknown).
func (s *Service) protectedBranch(ctx context.Context, pr int, def string) (string, error) {
	if s.MainBranch != "" {
		return s.MainBranch, nil
	}
	if def == "" {
		def = "main"
	}
	repo, rev, err := s.Git.Sync(ctx, pr, def)
	if err != nil {
		return "", fmt.Errorf("git: %w", err)
	}
	defer repo.Close()
	h, err := gitrepo.ParseHash(rev)
	if err != nil {
		return "", err
	}
	tree, err := repo.TreeFS(h)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", def, err)
	}
	m, err := baseline.Load(ctx, tree, baseline.Options{Now: s.now(), ExpiryAsFinding: true})
	if err != nil || m.Config.MainBranch == "" {
		return def, nil // an invalid default branch is still the default branch
	}
	return m.Config.MainBranch, nil
}

// SkippedCheckName is the check (or status context) set on pull requests
// into other branches than the protected one: never CheckName, whose
// neutral or success would count for every pull request with that head.
func SkippedCheckName(base string) string { return CheckName + " (base " + base + ")" }

// setSkipped reports a pull request that is not gated.
func (s *Service) setSkipped(ctx context.Context, owner, repo, sha, base, why string) (string, error) {
	name := SkippedCheckName(base)
	if s.Checks {
		_, _, err := s.Client.Checks.CreateCheckRun(ctx, owner, repo, gh.CreateCheckRunOptions{
			Name: name, HeadSHA: sha, Status: gh.String("completed"), Conclusion: gh.String("neutral"),
			CompletedAt: &gh.Timestamp{Time: s.now()},
			Output:      &gh.CheckRunOutput{Title: gh.String("not evaluated: base is not the protected branch"), Summary: gh.String(why)},
		})
		if err != nil {
			return "", fmt.Errorf("create check run on %s: %w", shortSHA(sha), err)
		}
		return "neutral", nil
	}
	desc := why
	if len(desc) > 140 {
		desc = desc[:137] + "..."
	}
	// Statuses have no neutral; this context is never required.
	_, _, err := s.Client.Repositories.CreateStatus(ctx, owner, repo, sha, &gh.RepoStatus{State: gh.String("success"), Context: gh.String(name), Description: gh.String(desc)})
	if err != nil {
		return "", fmt.Errorf("create status on %s: %w", shortSHA(sha), err)
	}
	return "success", nil
}

// Process acts on a routed webhook event.
func (s *Service) Process(ctx context.Context, ev Event) error {
	switch ev.Kind {
	case KindGate:
		_, err := s.GatePR(ctx, PRRef{Owner: ev.Owner, Repo: ev.Repo, Number: ev.PR})
		return err
	case KindCommand:
		ok, err := s.IsCollaborator(ctx, ev.Owner, ev.Repo, ev.Sender)
		if err != nil {
			return err
		}
		if !ok {
			s.log().Info("github: command by non-collaborator ignored", "repo", ev.Owner+"/"+ev.Repo, "pr", ev.PR, "user", ev.Sender)
			return nil
		}
		_, err = s.GatePR(ctx, PRRef{Owner: ev.Owner, Repo: ev.Repo, Number: ev.PR})
		return err
	case KindMerged:
		return s.HintMerged(ctx, ev.Owner, ev.Repo, ev.PR)
	case KindPush:
		if s.Rollout == nil {
			return nil
		}
		return s.Rollout.Hint(ctx, Hint{Commit: ev.After})
	}
	return nil
}

// PRRef names a pull request.
type PRRef struct {
	Owner, Repo string
	Number      int
}

// IsCollaborator asks the API whether user may push to the repository.
func (s *Service) IsCollaborator(ctx context.Context, owner, repo, user string) (bool, error) {
	if user == "" {
		return false, nil
	}
	p, resp, err := s.Client.Repositories.GetPermissionLevel(ctx, owner, repo, user)
	if resp != nil && resp.StatusCode == 404 {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("permission of %s: %w", user, err)
	}
	// Those who may push may run commands; triage and read may not.
	return slices.Contains([]string{"admin", "maintain", "write"}, p.GetPermission()), nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// GatePR evaluates a pull request and reports: it reads the pull request
// and all its reviews from the API, evaluates base branch head → PR head
// from Git with the base commit's policies, upserts the comment, sets the
// check run or status on the head SHA and writes the audit record.
func (s *Service) GatePR(ctx context.Context, ref PRRef) (*Outcome, error) {
	pr, _, err := s.Client.PullRequests.Get(ctx, ref.Owner, ref.Repo, ref.Number)
	if err != nil {
		return nil, fmt.Errorf("get pull request %d: %w", ref.Number, err)
	}
	out := &Outcome{HeadSHA: pr.GetHead().GetSHA()}
	if out.HeadSHA == "" || pr.GetBase().GetRef() == "" {
		return nil, fmt.Errorf("pull request %d: no head sha or base ref", ref.Number)
	}
	if pr.GetState() == "closed" {
		return out, nil
	}
	protected, err := s.protectedBranch(ctx, ref.Number, pr.GetBase().GetRepo().GetDefaultBranch())
	if err != nil {
		return nil, err
	}
	if baseRef := pr.GetBase().GetRef(); baseRef != protected {
		// A check on the head commit is per commit, not per pull request:
		// a success computed against another base would satisfy the pull
		// request into the protected branch with the same head. Report
		// under another name, decide nothing, record nothing.
		out.Skipped = fmt.Sprintf("not evaluated: pull request #%d merges into %s, not the protected branch %s; patchbay gates only pull requests into %s",
			ref.Number, baseRef, protected, protected)
		if out.State, err = s.setSkipped(ctx, ref.Owner, ref.Repo, out.HeadSHA, baseRef, out.Skipped); err != nil {
			return nil, err
		}
		s.log().Info("github: pull request into an unprotected branch not gated", "pr", ref.Number, "base", baseRef, "protected", protected)
		return out, nil
	}
	reviews, err := s.Reviews(ctx, ref.Owner, ref.Repo, ref.Number)
	if err != nil {
		return nil, err
	}
	pusher, err := s.lastPusher(ctx, ref.Owner, ref.Repo, out.HeadSHA)
	if err != nil {
		return nil, err
	}
	gpr := gate.PullRequest{Number: ref.Number, Author: pr.GetUser().GetLogin(), LastPusher: pusher, HeadSHA: out.HeadSHA, Labels: []string{},
		BaseRef: pr.GetBase().GetRef()}
	for _, l := range pr.Labels {
		gpr.Labels = append(gpr.Labels, l.GetName())
	}
	repo, baseRev, err := s.Git.Sync(ctx, ref.Number, pr.GetBase().GetRef())
	if err != nil {
		return nil, fmt.Errorf("git: %w", err)
	}
	defer repo.Close()
	req := change.Request{Repo: repo, Base: baseRev, Head: out.HeadSHA, PR: gpr, Reviews: reviews, TrustedKeys: s.TrustedKeys, Now: s.now()}
	if s.Reports != nil {
		if req.Reports, err = s.Reports(ctx); err != nil {
			return nil, fmt.Errorf("reports: %w", err)
		}
	}
	ev := s.Evaluator
	if ev == nil {
		ev = change.NewEvaluator()
	}
	out.Result, out.EvalErr = ev.Evaluate(ctx, req)
	var side *change.SideError
	var limit *change.LimitError
	if out.EvalErr != nil && !errors.As(out.EvalErr, &side) && !errors.As(out.EvalErr, &limit) {
		// Not the change's fault (Git, policies): report nothing wrong to
		// the PR, fail the delivery so it is visible and retried.
		return nil, fmt.Errorf("evaluate pull request %d: %w", ref.Number, out.EvalErr)
	}
	if side != nil {
		out.EvalErr = sideText(side)
	}
	out.Body = CommentMarkdown(CommentInput{Result: out.Result, Err: out.EvalErr, HeadSHA: out.HeadSHA})
	if out.CommentID, out.CommentCreated, err = s.UpsertComment(ctx, ref.Owner, ref.Repo, ref.Number, out.Body); err != nil {
		return nil, err
	}
	if out.State, err = s.SetCheck(ctx, ref.Owner, ref.Repo, out.HeadSHA, out.Result, out.Body); err != nil {
		return nil, err
	}
	if (s.Signer != nil || s.Outbox != nil) && out.Result != nil {
		if err := s.record(ctx, repo, out.Result, gpr); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lastPusher approximates who pushed the head commit by its GitHub
// committer (its author when GitHub itself committed, as for web edits):
// the API does not say who pushed, and a webhook's sender is known for
// synchronize events only, which would make the decision depend on which
// event came last. Approvals by that user do not count.
func (s *Service) lastPusher(ctx context.Context, owner, repo, sha string) (string, error) {
	c, resp, err := s.Client.Repositories.GetCommit(ctx, owner, repo, sha, &gh.ListOptions{PerPage: 1})
	if resp != nil && (resp.StatusCode == 404 || resp.StatusCode == 422) {
		return "", nil // not pushed to GitHub (yet): no one to exclude
	}
	if err != nil {
		return "", fmt.Errorf("get commit %s: %w", shortSHA(sha), err)
	}
	if login := c.GetCommitter().GetLogin(); login != "" && login != "web-flow" {
		return login, nil
	}
	return c.GetAuthor().GetLogin(), nil
}

// sideText lists an invalid side's problems for the comment.
func sideText(side *change.SideError) error {
	var b strings.Builder
	b.WriteString(side.Error())
	for _, e := range side.Errors {
		b.WriteString("\n" + e.String())
	}
	return errors.New(b.String())
}

// Decision maps a result to the audit predicate, as `patchbay gate
// --record` writes it.
func Decision(res *change.Result, pr gate.PullRequest, now time.Time) *audit.GateDecision {
	return &audit.GateDecision{Result: string(res.Decision.Result), Denies: ids(res.Decision.Deny), Warns: ids(res.Decision.Warn),
		PolicyBundleDigest: res.Decision.Manifest.BundleDigest, InputDigest: res.Decision.Manifest.InputDigest,
		PR: pr.Number, HeadSHA: res.HeadCommit, BaseSHA: res.BaseCommit, BaseRef: pr.BaseRef, EffectDigest: res.Effect.Digest,
		Approvers: res.Approvers, DecidedAt: now.UTC()}
}

// committer names the author of the notes commits patchbay writes.
func committer() gitrepo.Signature {
	return gitrepo.Signature{Name: "patchbay", Email: "patchbay@localhost"}
}

// RecordSink takes audit records to be signed and published elsewhere
// (the rollout controller's outbox).
type RecordSink interface {
	Enqueue(ctx context.Context, commit gitrepo.Hash, p audit.Predicate, actor string) error
}

func (s *Service) record(ctx context.Context, repo *gitrepo.Repo, res *change.Result, pr gate.PullRequest) error {
	head, err := gitrepo.ParseHash(res.HeadCommit)
	if err != nil {
		return err
	}
	p := Decision(res, pr, s.now())
	if s.Outbox != nil {
		if err := s.Outbox.Enqueue(ctx, head, p, "github"); err != nil {
			return fmt.Errorf("record gate decision: %w", err)
		}
		return nil
	}
	w := &audit.Writer{Repo: repo, Signer: s.Signer, Committer: committer(), Now: s.Now}
	if s.PushRemote != "" {
		_, err = w.WriteAndPush(ctx, s.PushRemote, head, p)
	} else {
		_, err = w.Write(ctx, head, p)
	}
	if err != nil {
		return fmt.Errorf("record gate decision: %w", err)
	}
	return nil
}

func ids(fs []gate.Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.ID)
	}
	return out
}

// Reviews lists all reviews of a pull request (every page) in the gate's
// shape; the gate itself keeps the latest per user and counts only those
// on the head commit.
func (s *Service) Reviews(ctx context.Context, owner, repo string, number int) ([]gate.Review, error) {
	out := []gate.Review{}
	opt := &gh.ListOptions{PerPage: 100}
	for {
		page, resp, err := s.Client.PullRequests.ListReviews(ctx, owner, repo, number, opt)
		if err != nil {
			return nil, fmt.Errorf("list reviews of %d: %w", number, err)
		}
		for _, r := range page {
			out = append(out, gate.Review{User: gate.User{Login: r.GetUser().GetLogin()}, State: strings.ToUpper(r.GetState()),
				CommitID: r.GetCommitID(), SubmittedAt: r.GetSubmittedAt().Time})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opt.Page = resp.NextPage
	}
}

// UpsertComment edits the pull request's comment carrying Marker, or
// creates it. It returns the comment id and whether it was created.
func (s *Service) UpsertComment(ctx context.Context, owner, repo string, number int, body string) (int64, bool, error) {
	opt := &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		page, resp, err := s.Client.Issues.ListComments(ctx, owner, repo, number, opt)
		if err != nil {
			return 0, false, fmt.Errorf("list comments of %d: %w", number, err)
		}
		for _, c := range page {
			if strings.HasPrefix(c.GetBody(), Marker) {
				if c.GetBody() == body {
					return c.GetID(), false, nil
				}
				if _, _, err := s.Client.Issues.EditComment(ctx, owner, repo, c.GetID(), &gh.IssueComment{Body: gh.String(body)}); err != nil {
					return 0, false, fmt.Errorf("edit comment %d: %w", c.GetID(), err)
				}
				return c.GetID(), false, nil
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	c, _, err := s.Client.Issues.CreateComment(ctx, owner, repo, number, &gh.IssueComment{Body: gh.String(body)})
	if err != nil {
		return 0, false, fmt.Errorf("create comment on %d: %w", number, err)
	}
	return c.GetID(), true, nil
}

// Conclusion maps a result to a check run conclusion: success, failure,
// or neutral for inconclusive. A change that could not be evaluated fails.
// Note that branch protection treats neutral like success; see
// Service.InconclusiveNeutral.
func Conclusion(res *change.Result) string {
	if res == nil {
		return "failure"
	}
	switch res.Decision.Result {
	case gate.Pass:
		return "success"
	case gate.Inconclusive:
		return "neutral"
	}
	return "failure"
}

// statusState maps a result to a commit status state; statuses have no
// neutral, and inconclusive must not satisfy a required status, so it is
// pending (evidence may still arrive).
func statusState(res *change.Result) string {
	switch Conclusion(res) {
	case "success":
		return "success"
	case "neutral":
		return "pending"
	}
	return "failure"
}

// SetCheck reports the result on the head SHA: a completed check run
// patchbay/gate (with Checks) or a commit status with that context. It
// returns the conclusion or state set.
func (s *Service) SetCheck(ctx context.Context, owner, repo, sha string, res *change.Result, body string) (string, error) {
	title := Summary(res)
	if s.Checks {
		c := Conclusion(res)
		if c == "neutral" && !s.InconclusiveNeutral {
			c = "failure"
		}
		_, _, err := s.Client.Checks.CreateCheckRun(ctx, owner, repo, gh.CreateCheckRunOptions{
			Name: CheckName, HeadSHA: sha, Status: gh.String("completed"), Conclusion: gh.String(c),
			CompletedAt: &gh.Timestamp{Time: s.now()},
			Output:      &gh.CheckRunOutput{Title: gh.String(title), Summary: gh.String(bound(body))},
		})
		if err != nil {
			return "", fmt.Errorf("create check run on %s: %w", shortSHA(sha), err)
		}
		return c, nil
	}
	st := statusState(res)
	if len(title) > 140 { // GitHub's limit on a status description
		title = title[:137] + "..."
	}
	_, _, err := s.Client.Repositories.CreateStatus(ctx, owner, repo, sha, &gh.RepoStatus{State: gh.String(st), Context: gh.String(CheckName), Description: gh.String(title)})
	if err != nil {
		return "", fmt.Errorf("create status on %s: %w", shortSHA(sha), err)
	}
	return st, nil
}

// HintMerged reads a merged pull request and its reviews from the API and
// hints the rollout controller with the merge commit, head SHA, author and
// counted approvers.
func (s *Service) HintMerged(ctx context.Context, owner, repo string, number int) error {
	if s.Rollout == nil {
		return nil
	}
	pr, _, err := s.Client.PullRequests.Get(ctx, owner, repo, number)
	if err != nil {
		return fmt.Errorf("get pull request %d: %w", number, err)
	}
	if !pr.GetMerged() {
		return nil // the payload said merged; the API disagrees
	}
	reviews, err := s.Reviews(ctx, owner, repo, number)
	if err != nil {
		return err
	}
	gpr := gate.PullRequest{Number: number, Author: pr.GetUser().GetLogin(), HeadSHA: pr.GetHead().GetSHA()}
	return s.Rollout.Hint(ctx, Hint{Commit: pr.GetMergeCommitSHA(), PR: number, HeadSHA: gpr.HeadSHA, Author: gpr.Author,
		Approvers: change.Approvers(reviews, gpr)})
}
