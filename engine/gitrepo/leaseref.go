package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// LeaseRef is the ref on the patch repository's remote that names the
// rollout controller currently entitled to run rollouts for it (see the
// rollout package). Its commits have an empty tree; the message carries
// the lease.
const LeaseRef = "refs/patchbay/controller-lease"

// remoteRef is where FetchRef keeps the remote's copy of ref.
func remoteRef(remote, ref string) string {
	return "refs/patchbay-remotes/" + remote + "/" + strings.TrimPrefix(ref, "refs/")
}

// FetchRef fetches one ref from remote and returns the commit it points to
// there, or nil when the remote has no such ref.
func (r *Repo) FetchRef(ctx context.Context, remote, ref string) (*Commit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dst := remoteRef(remote, ref)
	spec := gitconfig.RefSpec("+" + ref + ":" + dst)
	err := r.r.FetchContext(ctx, &git.FetchOptions{RemoteName: remote, RefSpecs: []gitconfig.RefSpec{spec}, Auth: r.auth, Force: true, Tags: git.NoTags})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		if strings.Contains(err.Error(), "couldn't find remote ref") {
			_ = r.r.Storer.RemoveReference(plumbing.ReferenceName(dst))
			return nil, nil
		}
		return nil, fmt.Errorf("fetch %s from %s: %w", ref, remote, err)
	}
	rf, err := r.r.Storer.Reference(plumbing.ReferenceName(dst))
	if err != nil {
		return nil, nil
	}
	c, err := r.r.CommitObject(rf.Hash())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	return toCommit(c), nil
}

// AdvanceRemoteRef writes a commit with an empty tree, message msg and
// parent old (none when old is zero) and pushes it to ref on remote. The
// push is a compare-and-swap: it succeeds only while the remote's ref is
// still old (absent when old is zero) and returns ErrRejected when another
// writer moved it first.
func (r *Repo) AdvanceRemoteRef(ctx context.Context, remote, ref string, old Hash, msg string, author Signature) (Hash, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tree, err := r.writeTree(nil)
	if err != nil {
		return Hash{}, err
	}
	var parents []Hash
	if !old.IsZero() {
		parents = []Hash{old}
	}
	h, err := r.writeObject(&object.Commit{Author: author, Committer: author, Message: msg, TreeHash: tree, ParentHashes: parents})
	if err != nil {
		return Hash{}, err
	}
	// A local ref to push from; the remote decides.
	local := plumbing.ReferenceName(remoteRef(remote, ref) + "-next")
	if err := r.r.Storer.SetReference(plumbing.NewHashReference(local, h)); err != nil {
		return Hash{}, fmt.Errorf("%s: %w", ref, err)
	}
	spec := gitconfig.RefSpec(local.String() + ":" + ref)
	// Not forced: the new commit is a child of old, so the push is a fast
	// forward only while the remote still has old, and receive-pack
	// updates the ref only if it still holds the value advertised.
	err = r.r.PushContext(ctx, &git.PushOptions{RemoteName: remote, RefSpecs: []gitconfig.RefSpec{spec}, Auth: r.auth})
	switch {
	case err == nil:
		return h, nil
	case errors.Is(err, git.ErrNonFastForwardUpdate), strings.Contains(err.Error(), "non-fast-forward"),
		strings.Contains(err.Error(), "fetch first"), strings.Contains(err.Error(), "rejected"),
		strings.Contains(err.Error(), "failed to update ref"):
		return Hash{}, fmt.Errorf("push %s to %s: %w (%v)", ref, remote, ErrRejected, err)
	default:
		return Hash{}, fmt.Errorf("push %s to %s: %w", ref, remote, err)
	}
}
