package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage"
)

// NotesRef is the notes ref patchbay's audit records live under; `git log
// --notes=patchbay` shows them.
const NotesRef = "refs/notes/patchbay"

// maxCASAttempts bounds the retries of a notes update that lost a
// compare-and-swap against another process.
const maxCASAttempts = 32

// Notes returns every note under ref as a map from the annotated commit to
// the note's blob. It reads flat trees (what git writes for few notes) and
// fanned-out trees (ab/cdef..., any depth) alike. A missing ref is an empty
// map.
func (r *Repo) Notes(ref string) (map[Hash]Hash, error) {
	tip, err := r.notesTip(ref)
	if err != nil || tip == nil {
		return map[Hash]Hash{}, err
	}
	t, err := tip.Tree()
	if err != nil {
		return nil, fmt.Errorf("notes %s: tree: %w", ref, err)
	}
	out := make(map[Hash]Hash)
	if err := r.walkNotes(t, "", out); err != nil {
		return nil, fmt.Errorf("notes %s: %w", ref, err)
	}
	return out, nil
}

func (r *Repo) walkNotes(t *object.Tree, prefix string, out map[Hash]Hash) error {
	for _, e := range t.Entries {
		full := prefix + e.Name
		if !isHex(e.Name) {
			continue // not a note (git allows other files in a notes tree)
		}
		switch {
		case e.Mode == filemode.Dir && len(full) < 40 && len(e.Name)%2 == 0:
			sub, err := object.GetTree(r.r.Storer, e.Hash)
			if err != nil {
				return fmt.Errorf("fan-out %s: %w", full, err)
			}
			if err := r.walkNotes(sub, full, out); err != nil {
				return err
			}
		case e.Mode.IsFile() && len(full) == 40:
			out[plumbing.NewHash(full)] = e.Hash
		}
	}
	return nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// Blob returns the content of a blob (a note, as returned by Notes).
func (r *Repo) Blob(h Hash) ([]byte, error) {
	b, err := r.r.BlobObject(h)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w (%v)", h, ErrNotFound, err)
	}
	rc, err := b.Reader()
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// Note returns the note on commit under ref, or ErrNotFound.
func (r *Repo) Note(ref string, commit Hash) ([]byte, error) {
	tip, err := r.notesTip(ref)
	if err != nil {
		return nil, err
	}
	if tip == nil {
		return nil, fmt.Errorf("note on %s: %w", commit, ErrNotFound)
	}
	t, err := tip.Tree()
	if err != nil {
		return nil, fmt.Errorf("notes %s: tree: %w", ref, err)
	}
	h, ok, err := r.findNote(t, commit.String())
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("note on %s: %w", commit, ErrNotFound)
	}
	return r.Blob(h)
}

// findNote looks name up in a notes tree of any fan-out.
func (r *Repo) findNote(t *object.Tree, name string) (Hash, bool, error) {
	for _, e := range t.Entries {
		switch {
		case e.Name == name && e.Mode.IsFile():
			return e.Hash, true, nil
		case e.Mode == filemode.Dir && len(e.Name) < len(name) && strings.HasPrefix(name, e.Name) && isHex(e.Name):
			sub, err := object.GetTree(r.r.Storer, e.Hash)
			if err != nil {
				return Hash{}, false, fmt.Errorf("fan-out %s: %w", e.Name, err)
			}
			if h, ok, err := r.findNote(sub, name[len(e.Name):]); ok || err != nil {
				return h, ok, err
			}
		}
	}
	return Hash{}, false, nil
}

// NotesTip returns the commit the notes ref points to, or nil when the ref
// does not exist.
func (r *Repo) NotesTip(ref string) (*Commit, error) {
	c, err := r.notesTip(ref)
	if err != nil || c == nil {
		return nil, err
	}
	return toCommit(c), nil
}

// NotesTipHash returns the commit the notes ref points to without reading
// it (nor the pack index it would need); ok is false when the ref does not
// exist.
func (r *Repo) NotesTipHash(ref string) (h Hash, ok bool, err error) {
	rf, err := r.r.Storer.Reference(plumbing.ReferenceName(ref))
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return Hash{}, false, nil
	}
	if err != nil {
		return Hash{}, false, fmt.Errorf("notes ref %s: %w", ref, err)
	}
	return rf.Hash(), true, nil
}

func (r *Repo) notesTip(ref string) (*object.Commit, error) {
	rf, err := r.r.Storer.Reference(plumbing.ReferenceName(ref))
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("notes ref %s: %w", ref, err)
	}
	c, err := r.r.CommitObject(rf.Hash())
	if err != nil {
		return nil, fmt.Errorf("notes ref %s: %w", ref, err)
	}
	return c, nil
}

// NoteEdit computes a note's new content from the notes ref's current tip
// (nil when the ref does not exist yet) and the note's current content (nil
// when there is none). It returns the new content and the message of the
// notes commit. It may be called more than once when a concurrent writer
// wins the compare-and-swap, so it must not have side effects.
type NoteEdit func(tip *Commit, old []byte) (note []byte, message string, err error)

// UpdateNote rewrites the note on commit under ref with edit and commits the
// new notes tree on ref, the way `git notes` does. Writers in this process
// are serialized; against other processes the ref is updated with a
// compare-and-swap, retried with a fresh edit when it loses. The notes tree
// is written with a 2-character fan-out (ab/cdef...), which git reads; a
// flat tree written by git is converted on the first update. It returns the
// new notes commit.
func (r *Repo) UpdateNote(ctx context.Context, ref string, commit Hash, author Signature, edit NoteEdit) (Hash, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for attempt := range maxCASAttempts {
		if err := backoff(ctx, attempt); err != nil {
			return Hash{}, err
		}
		h, err := r.updateNoteOnce(ref, commit, author, edit)
		if errors.Is(err, ErrConflict) {
			continue
		}
		return h, err
	}
	return Hash{}, fmt.Errorf("update note on %s: %w after %d attempts", commit, ErrConflict, maxCASAttempts)
}

func (r *Repo) updateNoteOnce(ref string, commit Hash, author Signature, edit NoteEdit) (Hash, error) {
	oldRef, err := r.r.Storer.Reference(plumbing.ReferenceName(ref))
	if err != nil && !errors.Is(err, plumbing.ErrReferenceNotFound) {
		return Hash{}, fmt.Errorf("notes ref %s: %w", ref, err)
	}
	var tip *object.Commit
	var root *object.Tree
	if oldRef != nil {
		if tip, err = r.r.CommitObject(oldRef.Hash()); err != nil {
			return Hash{}, fmt.Errorf("notes ref %s: %w", ref, err)
		}
		if root, err = tip.Tree(); err != nil {
			return Hash{}, fmt.Errorf("notes ref %s: tree: %w", ref, err)
		}
	}
	var old []byte
	if root != nil {
		if h, ok, err := r.findNote(root, commit.String()); err != nil {
			return Hash{}, err
		} else if ok {
			if old, err = r.Blob(h); err != nil {
				return Hash{}, err
			}
		}
	}
	var tipC *Commit
	if tip != nil {
		tipC = toCommit(tip)
	}
	note, msg, err := edit(tipC, old)
	if err != nil {
		return Hash{}, err
	}
	var blob Hash
	if note != nil {
		if blob, err = r.writeBlob(note); err != nil {
			return Hash{}, err
		}
	}
	treeHash, err := r.setNoteInTree(root, commit, blob)
	if err != nil {
		return Hash{}, err
	}
	var parents []Hash
	if tip != nil {
		parents = []Hash{tip.Hash}
	}
	c := &object.Commit{Author: author, Committer: author, Message: msg, TreeHash: treeHash, ParentHashes: parents}
	ch, err := r.writeObject(c)
	if err != nil {
		return Hash{}, err
	}
	if err := r.casRef(ref, ch, oldRef); err != nil {
		return Hash{}, err
	}
	return ch, nil
}

// casRef sets ref to h if it still is old (nil: if it does not exist).
func (r *Repo) casRef(ref string, h Hash, old *plumbing.Reference) error {
	name := plumbing.ReferenceName(ref)
	if old == nil {
		return r.createRef(name, h)
	}
	err := r.r.Storer.CheckAndSetReference(plumbing.NewHashReference(name, h), old)
	if errors.Is(err, storage.ErrReferenceHasChanged) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("update %s: %w", ref, err)
	}
	return nil
}

// createRef creates a ref that must not exist yet. On a filesystem
// repository the loose ref file is created exclusively (O_EXCL), so of two
// concurrent creators exactly one wins.
func (r *Repo) createRef(name plumbing.ReferenceName, h Hash) error {
	if _, err := r.r.Storer.Reference(name); err == nil {
		return ErrConflict
	}
	s, ok := r.fsStorage()
	if !ok {
		return r.r.Storer.SetReference(plumbing.NewHashReference(name, h))
	}
	fsys := s.Filesystem()
	if err := fsys.MkdirAll(path.Dir(name.String()), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	f, err := fsys.OpenFile(name.String(), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	if errors.Is(err, os.ErrExist) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	_, werr := f.Write([]byte(h.String() + "\n"))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("create %s: %w", name, werr)
	}
	return nil
}

// backoff waits before retry number attempt (none before the first): a
// few milliseconds, growing, with jitter so that competing writers spread.
func backoff(ctx context.Context, attempt int) error {
	if attempt == 0 {
		return ctx.Err()
	}
	d := time.Duration(min(attempt, 10)) * time.Millisecond
	d += rand.N(d + time.Millisecond)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type encoder interface {
	Encode(plumbing.EncodedObject) error
}

func (r *Repo) writeObject(o encoder) (Hash, error) {
	obj := r.r.Storer.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		return Hash{}, fmt.Errorf("encode object: %w", err)
	}
	h, err := r.r.Storer.SetEncodedObject(obj)
	if err != nil {
		return Hash{}, fmt.Errorf("store object: %w", err)
	}
	return h, nil
}

func (r *Repo) writeBlob(data []byte) (Hash, error) {
	obj := r.r.Storer.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(data)))
	w, err := obj.Writer()
	if err != nil {
		return Hash{}, fmt.Errorf("write blob: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return Hash{}, fmt.Errorf("write blob: %w", err)
	}
	if err := w.Close(); err != nil {
		return Hash{}, fmt.Errorf("write blob: %w", err)
	}
	h, err := r.r.Storer.SetEncodedObject(obj)
	if err != nil {
		return Hash{}, fmt.Errorf("store blob: %w", err)
	}
	return h, nil
}

// fannedOut reports whether root uses exactly the 2/38 layout this package
// writes, so that one subtree can be replaced without rewriting the rest.
func (r *Repo) fannedOut(root *object.Tree) bool {
	for _, e := range root.Entries {
		if e.Mode != filemode.Dir || len(e.Name) != 2 || !isHex(e.Name) {
			return false
		}
	}
	return true
}

// setNoteInTree returns the hash of root with commit's note set to blob (or
// removed when blob is zero), in the 2/38 fan-out layout.
func (r *Repo) setNoteInTree(root *object.Tree, commit, blob Hash) (Hash, error) {
	name := commit.String()
	dir, file := name[:2], name[2:]
	if root == nil || !r.fannedOut(root) {
		all := map[Hash]Hash{}
		if root != nil {
			if err := r.walkNotes(root, "", all); err != nil {
				return Hash{}, err
			}
		}
		if blob.IsZero() {
			delete(all, commit)
		} else {
			all[commit] = blob
		}
		return r.writeFanout(all)
	}
	// Replace one subtree.
	var sub []object.TreeEntry
	for _, e := range root.Entries {
		if e.Name == dir {
			t, err := object.GetTree(r.r.Storer, e.Hash)
			if err != nil {
				return Hash{}, fmt.Errorf("fan-out %s: %w", dir, err)
			}
			sub = slices.Clone(t.Entries)
		}
	}
	sub = slices.DeleteFunc(sub, func(e object.TreeEntry) bool { return e.Name == file })
	if !blob.IsZero() {
		sub = append(sub, object.TreeEntry{Name: file, Mode: filemode.Regular, Hash: blob})
	}
	entries := slices.DeleteFunc(slices.Clone(root.Entries), func(e object.TreeEntry) bool { return e.Name == dir })
	if len(sub) > 0 {
		sh, err := r.writeTree(sub)
		if err != nil {
			return Hash{}, err
		}
		entries = append(entries, object.TreeEntry{Name: dir, Mode: filemode.Dir, Hash: sh})
	}
	return r.writeTree(entries)
}

func (r *Repo) writeFanout(all map[Hash]Hash) (Hash, error) {
	subs := map[string][]object.TreeEntry{}
	for c, b := range all {
		n := c.String()
		subs[n[:2]] = append(subs[n[:2]], object.TreeEntry{Name: n[2:], Mode: filemode.Regular, Hash: b})
	}
	var root []object.TreeEntry
	for dir, entries := range subs {
		h, err := r.writeTree(entries)
		if err != nil {
			return Hash{}, err
		}
		root = append(root, object.TreeEntry{Name: dir, Mode: filemode.Dir, Hash: h})
	}
	return r.writeTree(root)
}

// writeTree stores a tree. Entries within one notes tree are all blobs or
// all directories of equal name length, so a plain name sort is Git's order.
func (r *Repo) writeTree(entries []object.TreeEntry) (Hash, error) {
	slices.SortFunc(entries, func(a, b object.TreeEntry) int { return strings.Compare(a.Name, b.Name) })
	return r.writeObject(&object.Tree{Entries: entries})
}

// AppendLine is a NoteEdit helper: it returns old with line appended as a
// new line (a trailing newline is kept).
func AppendLine(old, line []byte) []byte {
	out := bytes.Clone(old)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	out = append(out, line...)
	return append(out, '\n')
}

// SetNotesRef points ref at commit h if it still points at old (zero: if
// it does not exist); a zero h deletes the ref. Used to drop unpublished
// notes commits after a rejected push.
func (r *Repo) SetNotesRef(ref string, h, old Hash) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h.IsZero() {
		cur, err := r.r.Storer.Reference(plumbing.ReferenceName(ref))
		if err != nil {
			return nil // already gone
		}
		if cur.Hash() != old {
			return ErrConflict
		}
		if err := r.r.Storer.RemoveReference(plumbing.ReferenceName(ref)); err != nil {
			return fmt.Errorf("delete %s: %w", ref, err)
		}
		return nil
	}
	var oldRef *plumbing.Reference
	if !old.IsZero() {
		oldRef = plumbing.NewHashReference(plumbing.ReferenceName(ref), old)
	}
	return r.casRef(ref, h, oldRef)
}
