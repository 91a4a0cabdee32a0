package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"github.com/patchbay/patchbay/engine/gitrepo"
)

// errAlreadyRecorded aborts a note edit whose record is already there.
var errAlreadyRecorded = errors.New("already recorded")

// WriteOnce is Write for a writer that may be retried or may race with
// another writer of the same record (a deposed leader whose note write was
// in flight, a successor that re-drains an outbox entry whose push was
// acknowledged but not marked): it writes nothing and returns dup true when
// the note on commit already holds a record of p's kind with an equal
// predicate. The check runs inside the notes ref's compare-and-swap, so of
// two writers of the same record exactly one writes it.
//
// Two distinct records with byte-equal predicates (same kind, same
// commit, same timestamps) count as one; every predicate patchbay writes
// carries a timestamp, so that only happens for a retried write.
func (w *Writer) WriteOnce(ctx context.Context, commit gitrepo.Hash, p Predicate) (rec *Record, dup bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rec, err = w.write(ctx, commit, p, true)
	if errors.Is(err, errAlreadyRecorded) {
		return nil, true, nil
	}
	return rec, false, err
}

// holdsEqual reports whether note (the note on commit) holds a record of
// kind k whose predicate, without its chain link, encodes to body.
func holdsEqual(commit string, note []byte, k Kind, body []byte) bool {
	var ix noteIndex
	ix.add(commit, note)
	return ix.has(k, body)
}

// noteIndex is what WriteOnce needs of one commit's note: the records it
// holds, as kind and predicate encoding, and the note bytes they were
// read from. A note only grows by appended lines while a writer works on
// it, so the index of a longer note decodes only the new lines: writing n
// records on one commit decodes each record once, not n times (the
// publisher's re-chain of a batch was quadratic in its size).
type noteIndex struct {
	note []byte
	keys map[string]struct{}
}

// maxNoteIndexes bounds how many commits' notes a Writer keeps indexed.
const maxNoteIndexes = 256

func noteKey(k Kind, body []byte) string { return string(k) + "\x00" + string(body) }

// add indexes the lines of note after those already indexed; note must
// extend ix.note (update checks).
func (ix *noteIndex) add(commit string, note []byte) {
	if ix.keys == nil {
		ix.keys = map[string]struct{}{}
	}
	for _, line := range bytes.Split(note[len(ix.note):], []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		r := decodeLine(commit, 0, line)
		q, err := r.Decode()
		if err != nil {
			continue
		}
		if got, err := json.Marshal(q); err == nil {
			ix.keys[noteKey(r.Kind, got)] = struct{}{}
		}
	}
	ix.note = note
}

func (ix *noteIndex) has(k Kind, body []byte) bool {
	_, ok := ix.keys[noteKey(k, body)]
	return ok
}

// holdsEqualCached is holdsEqual through the writer's index of commit's
// note: only lines appended since the last check are decoded; a note that
// does not extend the indexed one (rewritten, or reset to another
// writer's) is indexed afresh. Call with w.mu held.
func (w *Writer) holdsEqualCached(commit string, note []byte, k Kind, body []byte) bool {
	ix := w.notes[commit]
	if ix == nil || !bytes.HasPrefix(note, ix.note) || (len(ix.note) > 0 && len(note) > len(ix.note) && ix.note[len(ix.note)-1] != '\n') {
		if w.notes == nil || len(w.notes) >= maxNoteIndexes {
			w.notes = map[string]*noteIndex{}
		}
		ix = &noteIndex{}
		w.notes[commit] = ix
	}
	if len(note) > len(ix.note) {
		ix.add(commit, note)
	}
	return ix.has(k, body)
}

// Contains reports whether the note on commit under the notes ref already
// holds a record of p's kind with an equal predicate (what WriteOnce
// checks).
func Contains(repo *gitrepo.Repo, commit gitrepo.Hash, p Predicate) (bool, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return false, err
	}
	note, err := repo.Note(gitrepo.NotesRef, commit)
	if errors.Is(err, gitrepo.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return holdsEqual(commit.String(), note, p.Kind(), body), nil
}

// HeadOf returns the chain head named by the notes commit tip (the local
// notes ref's tip when tip is zero). ok is false when that commit carries
// no chain trailers; a missing ref is Head{} and ok.
func HeadOf(repo *gitrepo.Repo, tip gitrepo.Hash) (h Head, ok bool, err error) {
	var c *gitrepo.Commit
	if tip.IsZero() {
		c, err = repo.NotesTip(gitrepo.NotesRef)
	} else {
		c, err = repo.Commit(tip)
	}
	if err != nil {
		return Head{}, false, err
	}
	h, ok = parseHead(c)
	return h, ok, nil
}
