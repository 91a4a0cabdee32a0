package gitrepo_test

import (
	"context"
	"testing"

	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
)

// TestCloneOrFetch clones a remote into a cache directory, then fetches new
// commits and notes into the same cache on the second call.
func TestCloneOrFetch(t *testing.T) {
	h := build(t)
	bare := t.TempDir()
	if _, err := gitrepotest.RunGit(bare, 0, nil, "init", "-q", "--bare", "-b", "main"); err != nil {
		t.Fatal(err)
	}
	h.g.Git("push", "-q", bare, "main")
	cache := t.TempDir()
	rem := gitrepo.Remote{URL: bare, CacheDir: cache}
	ctx := context.Background()
	r1, err := gitrepo.CloneOrFetch(ctx, rem)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r1.Head("main"); err != nil || got.String() != h.m2 {
		t.Fatalf("cloned main = %v, %v; want %s", got, err, h.m2)
	}
	r1.Close()

	next := h.g.Commit("after clone", map[string]string{"rings/prod.cue": "ring: prod\n"})
	h.g.Git("notes", "--ref=patchbay", "add", "-m", "hello", next)
	h.g.Git("push", "-q", bare, "main", "refs/notes/patchbay")
	r2, err := gitrepo.CloneOrFetch(ctx, rem)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if r2.Dir() != r1.Dir() {
		t.Errorf("second call used %s, first %s: want one cache directory per URL", r2.Dir(), r1.Dir())
	}
	got, err := r2.Head("main")
	if err != nil || got.String() != next {
		t.Fatalf("fetched main = %v, %v; want %s", got, err, next)
	}
	note, err := r2.Note(gitrepo.NotesRef, got)
	if err != nil || string(note) != "hello\n" {
		t.Errorf("fetched note = %q, %v", note, err)
	}
}
