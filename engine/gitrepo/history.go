package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-git/v5/plumbing"
	cgfmt "github.com/go-git/go-git/v5/plumbing/format/commitgraph/v2"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/object/commitgraph"
)

// ChangedPaths returns the sorted paths of files that differ between the
// trees of commits from and to (added, deleted or modified; a rename is a
// deletion plus an addition).
func (r *Repo) ChangedPaths(ctx context.Context, from, to Hash) ([]string, error) {
	ta, err := r.commitTree(from)
	if err != nil {
		return nil, err
	}
	tb, err := r.commitTree(to)
	if err != nil {
		return nil, err
	}
	changes, err := object.DiffTreeWithOptions(ctx, ta, tb, nil)
	if err != nil {
		return nil, fmt.Errorf("diff %s..%s: %w", from, to, err)
	}
	seen := make(map[string]bool, len(changes))
	for _, c := range changes {
		for _, n := range []string{c.From.Name, c.To.Name} {
			if n != "" {
				seen[n] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out, nil
}

func (r *Repo) commitTree(h Hash) (*object.Tree, error) {
	c, err := r.r.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w (%v)", h, ErrNotFound, err)
	}
	t, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("tree of %s: %w", h, err)
	}
	return t, nil
}

// MergeBase returns the best common ancestor of a and b. When there are
// several (criss-cross merges) it returns the first go-git reports.
func (r *Repo) MergeBase(a, b Hash) (Hash, error) {
	ca, err := r.r.CommitObject(a)
	if err != nil {
		return Hash{}, fmt.Errorf("commit %s: %w (%v)", a, ErrNotFound, err)
	}
	cb, err := r.r.CommitObject(b)
	if err != nil {
		return Hash{}, fmt.Errorf("commit %s: %w (%v)", b, ErrNotFound, err)
	}
	bases, err := ca.MergeBase(cb)
	if err != nil {
		return Hash{}, fmt.Errorf("merge base of %s and %s: %w", a, b, err)
	}
	if len(bases) == 0 {
		return Hash{}, fmt.Errorf("merge base of %s and %s: %w", a, b, ErrNoMergeBase)
	}
	return bases[0].Hash, nil
}

// Node is one commit in a first-parent walk: what the commit-graph file
// knows (hash, parents, commit time) without decoding the commit. Call
// Commit for the full metadata.
type Node struct {
	Hash    Hash
	Parents []Hash
	// Time is the committer time.
	Time time.Time
	repo *Repo
	node commitgraph.CommitNode
}

// Commit decodes the full commit.
func (n *Node) Commit() (*Commit, error) {
	c, err := n.node.Commit()
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", n.Hash, err)
	}
	return toCommit(c), nil
}

// FirstParent walks the first-parent history from commit start, newest
// first, calling fn for each commit. fn returns ErrStop to end the walk
// early (FirstParent then returns nil) or another error to abort. The walk
// uses the commit-graph file when the repository has one, so commits are
// only decoded when fn asks for them.
func (r *Repo) FirstParent(ctx context.Context, start Hash, fn func(*Node) error) error {
	idx, closeIdx := r.commitNodeIndex()
	defer closeIdx()
	h := start
	for !h.IsZero() {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := idx.Get(h)
		if err != nil {
			return fmt.Errorf("first-parent walk at %s: %w", h, err)
		}
		node := &Node{Hash: h, Parents: n.ParentHashes(), Time: n.CommitTime(), repo: r, node: n}
		if err := fn(node); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
		if len(node.Parents) == 0 {
			return nil
		}
		h = node.Parents[0]
	}
	return nil
}

// commitNodeIndex returns a commit-graph backed index when the repository
// has a commit-graph file (or chain), otherwise one that decodes objects.
func (r *Repo) commitNodeIndex() (commitgraph.CommitNodeIndex, func()) {
	if s, ok := r.fsStorage(); ok {
		if data, ok := readCommitGraph(s.Filesystem()); ok {
			if idx, err := cgfmt.OpenFileIndex(memFile{bytes.NewReader(data)}); err == nil {
				return commitgraph.NewGraphCommitNodeIndex(idx, r.r.Storer), func() { _ = idx.Close() }
			}
		}
		if idx, err := cgfmt.OpenChainOrFileIndex(s.Filesystem()); err == nil {
			return commitgraph.NewGraphCommitNodeIndex(idx, r.r.Storer), func() { _ = idx.Close() }
		}
	}
	return commitgraph.NewObjectCommitNodeIndex(r.r.Storer), func() {}
}

// maxMemCommitGraph bounds the commit-graph file read into memory (about
// 1.5 million commits); a larger one is read from the file as needed.
const maxMemCommitGraph = 64 << 20

// readCommitGraph reads the repository's single commit-graph file into
// memory: the index reads a few bytes per commit at a time, one system call
// each from the file, none from memory. ok is false when there is none,
// it is larger than maxMemCommitGraph or cannot be read.
func readCommitGraph(fs billy.Filesystem) ([]byte, bool) {
	name := path.Join("objects", "info", "commit-graph")
	fi, err := fs.Stat(name)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxMemCommitGraph {
		return nil, false
	}
	f, err := fs.Open(name)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	// One read into a buffer of the file's size (io.ReadAll would grow
	// its buffer and copy several times); a file that grew meanwhile is
	// read from disk instead.
	data := make([]byte, fi.Size()+1)
	n, err := io.ReadFull(f, data)
	if err != io.ErrUnexpectedEOF || int64(n) != fi.Size() {
		return nil, false
	}
	return data[:n], true
}

// memFile is an in-memory commit-graph file.
type memFile struct{ *bytes.Reader }

func (memFile) Close() error { return nil }

// Head returns the commit the named branch points to: "main" looks up
// refs/heads/main, then refs/remotes/origin/main.
func (r *Repo) Head(branch string) (Hash, error) {
	for _, name := range []plumbing.ReferenceName{
		plumbing.NewBranchReferenceName(branch),
		plumbing.NewRemoteReferenceName("origin", branch),
	} {
		if ref, err := r.r.Reference(name, true); err == nil {
			return ref.Hash(), nil
		}
	}
	return r.Resolve(branch)
}

// IsAncestor reports whether commit a is an ancestor of (or equal to) b.
func (r *Repo) IsAncestor(a, b Hash) (bool, error) {
	if a == b {
		return true, nil
	}
	ca, err := r.r.CommitObject(a)
	if err != nil {
		return false, fmt.Errorf("commit %s: %w (%v)", a, ErrNotFound, err)
	}
	cb, err := r.r.CommitObject(b)
	if err != nil {
		return false, fmt.Errorf("commit %s: %w (%v)", b, ErrNotFound, err)
	}
	return ca.IsAncestor(cb)
}
