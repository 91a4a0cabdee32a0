package gitrepo

import (
	"fmt"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Init creates a repository with a work tree in dir whose initial branch is
// branch, and opens it. It is how patchbay makes a patch repository without
// the git binary (the demo, tests).
func Init(dir, branch string) (*Repo, error) {
	r, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName(branch)},
	})
	if err != nil {
		return nil, fmt.Errorf("init repository %s: %w", dir, err)
	}
	return &Repo{r: r, dir: dir}, nil
}

// CommitAll stages every change of the work tree (additions, edits,
// deletions) and commits it on the current branch, returning the commit.
func (r *Repo) CommitAll(message string, author Signature) (Hash, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	wt, err := r.r.Worktree()
	if err != nil {
		return Hash{}, fmt.Errorf("commit: %w", err)
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		return Hash{}, fmt.Errorf("commit: stage: %w", err)
	}
	if author.When.IsZero() {
		author.When = time.Now()
	}
	h, err := wt.Commit(message, &git.CommitOptions{Author: &author, Committer: &author, AllowEmptyCommits: true})
	if err != nil {
		return Hash{}, fmt.Errorf("commit: %w", err)
	}
	return h, nil
}

// Merge records a merge commit on the current branch with parents (HEAD,
// other) and the tree of other — what GitHub's "Create a merge commit" does
// for a pull request branch that is ahead of its base.
func (r *Repo) Merge(other Hash, message string, author Signature) (Hash, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	head, err := r.r.Head()
	if err != nil {
		return Hash{}, fmt.Errorf("merge: %w", err)
	}
	oc, err := r.r.CommitObject(other)
	if err != nil {
		return Hash{}, fmt.Errorf("merge: %w", err)
	}
	if author.When.IsZero() {
		author.When = time.Now()
	}
	c := &object.Commit{Author: author, Committer: author, Message: message, TreeHash: oc.TreeHash,
		ParentHashes: []Hash{head.Hash(), other}}
	obj := r.r.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return Hash{}, fmt.Errorf("merge: %w", err)
	}
	h, err := r.r.Storer.SetEncodedObject(obj)
	if err != nil {
		return Hash{}, fmt.Errorf("merge: %w", err)
	}
	if err := r.r.Storer.SetReference(plumbing.NewHashReference(head.Name(), h)); err != nil {
		return Hash{}, fmt.Errorf("merge: %w", err)
	}
	wt, err := r.r.Worktree()
	if err == nil {
		err = wt.Reset(&git.ResetOptions{Commit: h, Mode: git.HardReset})
	}
	if err != nil {
		return Hash{}, fmt.Errorf("merge: update work tree: %w", err)
	}
	return h, nil
}

// Branch points branch at commit (creating it) without checking it out.
func (r *Repo) Branch(branch string, commit Hash) error {
	return r.r.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(branch), commit))
}
