package github

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"

	gh "github.com/google/go-github/v60/github"
)

// MaxPRBody is GitHub's limit on a pull request body, in characters.
const MaxPRBody = 65536

// Proposal is a pull request to open with new or changed files on a new
// branch made from the base branch's head.
type Proposal struct {
	Owner, Repo string
	// Base is the branch the pull request merges into.
	Base string
	// Branch is the head branch to create. Key it by what is proposed (a
	// cycle and its period): a branch that already exists is not made
	// again, and its pull request is returned instead of a second one.
	Branch string
	// Files maps repository paths (slash-separated, relative) to their
	// new content.
	Files map[string][]byte
	// Message is the commit message; Title and Body the pull request's.
	Message, Title, Body string
	// Author is the commit author; nil means the token's account, as
	// GitHub fills it in.
	Author *gh.CommitAuthor
}

// Opened is the pull request a proposal opened or found.
type Opened struct {
	Number  int    `json:"number"`
	URL     string `json:"url"`
	Branch  string `json:"branch"`
	HeadSHA string `json:"headSHA"`
	BaseSHA string `json:"baseSHA,omitempty"`
	// Existing is true when the branch was already there (an earlier run
	// proposed this): nothing was committed and no second pull request
	// was opened.
	Existing bool `json:"existing"`
}

// ErrProposalInvalid is a proposal refused before anything is sent.
var ErrProposalInvalid = errors.New("invalid proposal")

func (p *Proposal) validate() error {
	switch {
	case p.Owner == "" || p.Repo == "":
		return fmt.Errorf("%w: owner and repository are required", ErrProposalInvalid)
	case p.Base == "" || p.Branch == "" || p.Base == p.Branch:
		return fmt.Errorf("%w: base %q and branch %q must be set and differ", ErrProposalInvalid, p.Base, p.Branch)
	case strings.HasPrefix(p.Branch, "refs/") || strings.ContainsAny(p.Branch, " ~^:?*[\\") || strings.Contains(p.Branch, ".."):
		return fmt.Errorf("%w: branch %q is not a valid branch name", ErrProposalInvalid, p.Branch)
	case len(p.Files) == 0:
		return fmt.Errorf("%w: no files to commit", ErrProposalInvalid)
	case p.Title == "" || p.Message == "":
		return fmt.Errorf("%w: a title and a commit message are required", ErrProposalInvalid)
	case len([]rune(p.Body)) > MaxPRBody:
		return fmt.Errorf("%w: body has %d characters, GitHub takes at most %d", ErrProposalInvalid, len([]rune(p.Body)), MaxPRBody)
	}
	for name := range p.Files {
		if name == "" || path.Clean(name) != name || path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("%w: file path %q is not a clean relative path", ErrProposalInvalid, name)
		}
	}
	return nil
}

func status(resp *gh.Response) int {
	if resp == nil || resp.Response == nil {
		return 0
	}
	return resp.StatusCode
}

// OpenProposal opens the pull request through the Git Data API: it reads
// the base branch's head, creates a blob per file, a tree on the base's
// tree, a commit whose parent is the base head, the branch, and the pull
// request. Nothing is cloned or pushed, so it works with an App
// installation token (contents: write, pull-requests: write) and without a
// local checkout's push rights.
//
// It is idempotent by branch: when the branch already exists (an earlier
// run, or a restart after the branch was created), the open pull request
// from it is returned, or one is opened for it; a race on creating the
// branch (GitHub's 422) is treated the same way.
func OpenProposal(ctx context.Context, c *gh.Client, p Proposal) (*Opened, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	if op, err := existingProposal(ctx, c, p); op != nil || err != nil {
		return op, err
	}
	baseRef, _, err := c.Git.GetRef(ctx, p.Owner, p.Repo, "heads/"+p.Base)
	if err != nil {
		return nil, fmt.Errorf("read base branch %s: %w", p.Base, err)
	}
	baseSHA := baseRef.GetObject().GetSHA()
	baseCommit, _, err := c.Git.GetCommit(ctx, p.Owner, p.Repo, baseSHA)
	if err != nil {
		return nil, fmt.Errorf("read base commit %s: %w", shortSHA(baseSHA), err)
	}
	names := make([]string, 0, len(p.Files))
	for name := range p.Files {
		names = append(names, name)
	}
	sort.Strings(names)
	var entries []*gh.TreeEntry
	for _, name := range names {
		blob, _, err := c.Git.CreateBlob(ctx, p.Owner, p.Repo, &gh.Blob{
			Content: gh.String(base64.StdEncoding.EncodeToString(p.Files[name])), Encoding: gh.String("base64")})
		if err != nil {
			return nil, fmt.Errorf("create blob for %s: %w", name, err)
		}
		entries = append(entries, &gh.TreeEntry{Path: gh.String(name), Mode: gh.String("100644"), Type: gh.String("blob"), SHA: blob.SHA})
	}
	tree, _, err := c.Git.CreateTree(ctx, p.Owner, p.Repo, baseCommit.GetTree().GetSHA(), entries)
	if err != nil {
		return nil, fmt.Errorf("create tree: %w", err)
	}
	commit, _, err := c.Git.CreateCommit(ctx, p.Owner, p.Repo, &gh.Commit{
		Message: gh.String(p.Message), Tree: &gh.Tree{SHA: tree.SHA}, Parents: []*gh.Commit{{SHA: gh.String(baseSHA)}}, Author: p.Author}, nil)
	if err != nil {
		return nil, fmt.Errorf("create commit: %w", err)
	}
	_, resp, err := c.Git.CreateRef(ctx, p.Owner, p.Repo, &gh.Reference{Ref: gh.String("refs/heads/" + p.Branch), Object: &gh.GitObject{SHA: commit.SHA}})
	if err != nil {
		if status(resp) == http.StatusUnprocessableEntity {
			// Another run created the branch between our check and now.
			if op, err2 := existingProposal(ctx, c, p); op != nil || err2 != nil {
				return op, err2
			}
		}
		return nil, fmt.Errorf("create branch %s: %w", p.Branch, err)
	}
	op, err := openPull(ctx, c, p)
	if err != nil {
		return nil, err
	}
	op.BaseSHA = baseSHA
	return op, nil
}

// existingProposal returns the pull request of an existing branch (opening
// it when the branch has none), or nil when the branch does not exist.
func existingProposal(ctx context.Context, c *gh.Client, p Proposal) (*Opened, error) {
	ref, resp, err := c.Git.GetRef(ctx, p.Owner, p.Repo, "heads/"+p.Branch)
	if status(resp) == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read branch %s: %w", p.Branch, err)
	}
	prs, _, err := c.PullRequests.List(ctx, p.Owner, p.Repo, &gh.PullRequestListOptions{
		Head: p.Owner + ":" + p.Branch, Base: p.Base, State: "all", ListOptions: gh.ListOptions{PerPage: 10}})
	if err != nil {
		return nil, fmt.Errorf("list pull requests from %s: %w", p.Branch, err)
	}
	if len(prs) > 0 {
		pr := prs[0]
		return &Opened{Number: pr.GetNumber(), URL: pr.GetHTMLURL(), Branch: p.Branch, HeadSHA: pr.GetHead().GetSHA(), Existing: true}, nil
	}
	op, err := openPull(ctx, c, p)
	if err != nil {
		return nil, err
	}
	op.Existing = true
	if op.HeadSHA == "" {
		op.HeadSHA = ref.GetObject().GetSHA()
	}
	return op, nil
}

func openPull(ctx context.Context, c *gh.Client, p Proposal) (*Opened, error) {
	pr, _, err := c.PullRequests.Create(ctx, p.Owner, p.Repo, &gh.NewPullRequest{
		Title: gh.String(p.Title), Head: gh.String(p.Branch), Base: gh.String(p.Base), Body: gh.String(p.Body), MaintainerCanModify: gh.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("open pull request from %s into %s: %w", p.Branch, p.Base, err)
	}
	return &Opened{Number: pr.GetNumber(), URL: pr.GetHTMLURL(), Branch: p.Branch, HeadSHA: pr.GetHead().GetSHA()}, nil
}
