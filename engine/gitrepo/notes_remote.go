package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// remoteNotesRef is where FetchNotes keeps the remote's copy of ref:
// refs/notes/patchbay from origin lands in refs/notes/remotes/origin/patchbay.
func remoteNotesRef(remote, ref string) string {
	return "refs/notes/remotes/" + remote + "/" + strings.TrimPrefix(ref, "refs/notes/")
}

// FetchNotes fetches ref from remote into refs/notes/remotes/<remote>/<name>
// and returns the remote's tip (zero when the remote has no such ref).
func (r *Repo) FetchNotes(ctx context.Context, remote, ref string) (Hash, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fetchNotes(ctx, remote, ref)
}

func (r *Repo) fetchNotes(ctx context.Context, remote, ref string) (Hash, error) {
	dst := remoteNotesRef(remote, ref)
	spec := gitconfig.RefSpec("+" + ref + ":" + dst)
	err := r.r.FetchContext(ctx, &git.FetchOptions{RemoteName: remote, RefSpecs: []gitconfig.RefSpec{spec}, Auth: r.auth, Force: true, Tags: git.NoTags})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		if noSuchRef(err) {
			return Hash{}, nil
		}
		return Hash{}, fmt.Errorf("fetch notes from %s: %w", remote, err)
	}
	rf, err := r.r.Storer.Reference(plumbing.ReferenceName(dst))
	if err != nil {
		return Hash{}, nil
	}
	return rf.Hash(), nil
}

// PushNotes pushes ref to the same name on remote. A push that is not a
// fast forward is refused with ErrRejected.
func (r *Repo) PushNotes(ctx context.Context, remote, ref string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pushNotes(ctx, remote, ref)
}

func (r *Repo) pushNotes(ctx context.Context, remote, ref string) error {
	spec := gitconfig.RefSpec(ref + ":" + ref)
	err := r.r.PushContext(ctx, &git.PushOptions{RemoteName: remote, RefSpecs: []gitconfig.RefSpec{spec}, Auth: r.auth})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case errors.Is(err, git.ErrNonFastForwardUpdate), strings.Contains(err.Error(), "non-fast-forward"),
		strings.Contains(err.Error(), "fetch first"), strings.Contains(err.Error(), "rejected"),
		strings.Contains(err.Error(), "failed to update ref"):
		return fmt.Errorf("push notes to %s: %w (%v)", remote, ErrRejected, err)
	default:
		return fmt.Errorf("push notes to %s: %w", remote, err)
	}
}

// MergeNotes merges the notes commit theirs into ref. When one side contains
// the other it fast-forwards (or does nothing); otherwise it writes a merge
// commit whose notes are the union of both sides: a commit annotated on
// both sides gets our note's lines followed by their lines we lack (git's
// cat_sort_uniq strategy, without the sort). It returns the new tip.
func (r *Repo) MergeNotes(ctx context.Context, ref string, theirs Hash, author Signature) (Hash, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mergeNotes(ctx, ref, theirs, author)
}

func (r *Repo) mergeNotes(ctx context.Context, ref string, theirs Hash, author Signature) (Hash, error) {
	if theirs.IsZero() {
		rf, err := r.r.Storer.Reference(plumbing.ReferenceName(ref))
		if err != nil {
			return Hash{}, nil
		}
		return rf.Hash(), nil
	}
	for attempt := range maxCASAttempts {
		if err := backoff(ctx, attempt); err != nil {
			return Hash{}, err
		}
		oldRef, err := r.r.Storer.Reference(plumbing.ReferenceName(ref))
		if err != nil && !errors.Is(err, plumbing.ErrReferenceNotFound) {
			return Hash{}, fmt.Errorf("notes ref %s: %w", ref, err)
		}
		if oldRef == nil {
			if err := r.casRef(ref, theirs, nil); errors.Is(err, ErrConflict) {
				continue
			} else if err != nil {
				return Hash{}, err
			}
			return theirs, nil
		}
		ours := oldRef.Hash()
		if ours == theirs {
			return ours, nil
		}
		oc, err := r.r.CommitObject(ours)
		if err != nil {
			return Hash{}, fmt.Errorf("notes %s: %w", ref, err)
		}
		tc, err := r.r.CommitObject(theirs)
		if err != nil {
			return Hash{}, fmt.Errorf("notes %s: %w", theirs, err)
		}
		if ok, err := tc.IsAncestor(oc); err == nil && ok {
			return ours, nil // we already have theirs
		}
		if ok, err := oc.IsAncestor(tc); err == nil && ok {
			if err := r.casRef(ref, theirs, oldRef); errors.Is(err, ErrConflict) {
				continue
			} else if err != nil {
				return Hash{}, err
			}
			return theirs, nil
		}
		h, err := r.unionMerge(oc, tc, author)
		if err != nil {
			return Hash{}, err
		}
		if err := r.casRef(ref, h, oldRef); errors.Is(err, ErrConflict) {
			continue
		} else if err != nil {
			return Hash{}, err
		}
		return h, nil
	}
	return Hash{}, fmt.Errorf("merge notes %s: %w", ref, ErrConflict)
}

func (r *Repo) unionMerge(oc, tc *object.Commit, author Signature) (Hash, error) {
	notesOf := func(c *object.Commit) (map[Hash]Hash, error) {
		t, err := c.Tree()
		if err != nil {
			return nil, err
		}
		m := map[Hash]Hash{}
		return m, r.walkNotes(t, "", m)
	}
	ours, err := notesOf(oc)
	if err != nil {
		return Hash{}, fmt.Errorf("merge notes: %w", err)
	}
	theirs, err := notesOf(tc)
	if err != nil {
		return Hash{}, fmt.Errorf("merge notes: %w", err)
	}
	for c, tb := range theirs {
		ob, ok := ours[c]
		if !ok || ob == tb {
			ours[c] = tb
			continue
		}
		a, err := r.Blob(ob)
		if err != nil {
			return Hash{}, err
		}
		b, err := r.Blob(tb)
		if err != nil {
			return Hash{}, err
		}
		merged := a
		have := map[string]bool{}
		for _, l := range bytes.Split(a, []byte("\n")) {
			have[string(l)] = true
		}
		for _, l := range bytes.Split(b, []byte("\n")) {
			if len(l) > 0 && !have[string(l)] {
				merged = AppendLine(merged, l)
				have[string(l)] = true
			}
		}
		if ours[c], err = r.writeBlob(merged); err != nil {
			return Hash{}, err
		}
	}
	tree, err := r.writeFanout(ours)
	if err != nil {
		return Hash{}, err
	}
	mc := &object.Commit{Author: author, Committer: author, TreeHash: tree,
		ParentHashes: []Hash{oc.Hash, tc.Hash}, Message: "Notes merged by 'patchbay'\n"}
	return r.writeObject(mc)
}

// SyncNotes publishes ref to remote, resolving concurrent writers by
// fetch-merge-retry: fetch the remote's notes, merge them into ours
// (MergeNotes), push; when the push is rejected because another writer got
// there first, start again, up to a bound.
func (r *Repo) SyncNotes(ctx context.Context, remote, ref string, author Signature) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var last error
	for attempt := range maxCASAttempts {
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
		theirs, err := r.fetchNotes(ctx, remote, ref)
		if err != nil {
			return err
		}
		if _, err := r.mergeNotes(ctx, ref, theirs, author); err != nil {
			return err
		}
		last = r.pushNotes(ctx, remote, ref)
		if !errors.Is(last, ErrRejected) {
			return last
		}
	}
	return last
}

// FetchKeepNotes fetches remote's branches and pull-request refs (into
// refs/heads/* and refs/pull/*, as a mirror keeps them) and its notes (into refs/notes/remotes/<remote>/*), and then
// fast-forwards the local NotesRef to the remote's only when the local one
// is absent or an ancestor of it. Unlike Fetch on a mirror it never
// overwrites local notes commits that are not on the remote yet (records
// written here but not pushed); publishing them is the publisher's job.
func (r *Repo) FetchKeepNotes(ctx context.Context, remote string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	specs := []gitconfig.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/pull/*:refs/pull/*", gitconfig.RefSpec("+refs/notes/*:refs/notes/remotes/" + remote + "/*")}
	if err := r.fetch(ctx, remote, specs); err != nil {
		if !strings.Contains(err.Error(), "couldn't find remote ref") {
			return err
		}
		// No notes on the remote yet: fetch the branches alone.
		if err := r.fetch(ctx, remote, specs[:2]); err != nil {
			return err
		}
	}
	rf, err := r.r.Storer.Reference(plumbing.ReferenceName(remoteNotesRef(remote, NotesRef)))
	if err != nil {
		return nil // the remote has no notes
	}
	theirs := rf.Hash()
	local, err := r.r.Storer.Reference(plumbing.ReferenceName(NotesRef))
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		if err := r.casRef(NotesRef, theirs, nil); err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("notes ref %s: %w", NotesRef, err)
	}
	if local.Hash() == theirs {
		return nil
	}
	if ok, err := r.IsAncestor(local.Hash(), theirs); err != nil || !ok {
		return nil // local has records of its own (or the objects are missing): keep them
	}
	if err := r.casRef(NotesRef, theirs, local); err != nil && !errors.Is(err, ErrConflict) {
		return err
	}
	return nil
}

// RemoteNotesTip returns the remote's notes tip as last fetched by
// FetchNotes or FetchKeepNotes (zero when unknown).
func (r *Repo) RemoteNotesTip(remote string) Hash {
	rf, err := r.r.Storer.Reference(plumbing.ReferenceName(remoteNotesRef(remote, NotesRef)))
	if err != nil {
		return Hash{}
	}
	return rf.Hash()
}

// FetchNotesFrom fetches refs/notes/patchbay from remote — a configured
// remote's name, or a URL (authenticated with a, or with credentials in
// the URL) — into
// refs/notes/remotes/<name>/patchbay and makes it the local notes ref when
// that is absent or an ancestor. found is false when the remote has no
// notes. Local notes that are not on the remote are never overwritten:
// that is ErrConflict (verify in a fresh clone then).
func (r *Repo) FetchNotesFrom(ctx context.Context, remote string, a Auth) (found bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := remote
	if strings.Contains(remote, "://") || strings.Contains(remote, "@") || strings.HasPrefix(remote, "/") {
		name = "patchbay-verify"
		auth, err := authMethod(remote, a)
		if err != nil {
			return false, err
		}
		rem, err := r.r.CreateRemoteAnonymous(&gitconfig.RemoteConfig{Name: "anonymous", URLs: []string{remote}})
		if err != nil {
			return false, fmt.Errorf("remote %s: %w", remote, err)
		}
		dst := remoteNotesRef(name, NotesRef)
		err = rem.FetchContext(ctx, &git.FetchOptions{RefSpecs: []gitconfig.RefSpec{gitconfig.RefSpec("+" + NotesRef + ":" + dst)}, Auth: auth, Force: true, Tags: git.NoTags})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			if noSuchRef(err) {
				return false, nil
			}
			return false, fmt.Errorf("fetch notes from %s: %w", remote, err)
		}
	} else if theirs, err := r.fetchNotes(ctx, remote, NotesRef); err != nil {
		return false, err
	} else if theirs.IsZero() {
		return false, nil
	}
	rf, err := r.r.Storer.Reference(plumbing.ReferenceName(remoteNotesRef(name, NotesRef)))
	if err != nil {
		return false, nil
	}
	theirs := rf.Hash()
	local, err := r.r.Storer.Reference(plumbing.ReferenceName(NotesRef))
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return true, r.casRef(NotesRef, theirs, nil)
	}
	if err != nil {
		return false, fmt.Errorf("notes ref %s: %w", NotesRef, err)
	}
	if local.Hash() == theirs {
		return true, nil
	}
	if ok, err := r.IsAncestor(local.Hash(), theirs); err != nil || !ok {
		return true, fmt.Errorf("local %s (%s) is not an ancestor of %s's (%s): %w; verify in a fresh clone",
			NotesRef, local.Hash().String()[:12], remote, theirs.String()[:12], ErrConflict)
	}
	return true, r.casRef(NotesRef, theirs, local)
}

// noSuchRef reports whether a fetch failed only because the remote lacks
// the ref (or has no refs at all).
func noSuchRef(err error) bool {
	return strings.Contains(err.Error(), "couldn't find remote ref") || errors.Is(err, transport.ErrEmptyRemoteRepository)
}
