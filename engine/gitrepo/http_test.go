package gitrepo_test

import (
	"context"
	"errors"
	"testing"

	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
)

// TestSmartHTTPRemote clones, fetches and pushes notes through the real
// git http-backend with basic auth, as against a forge: a wrong password is
// refused, a push that is not a fast forward is ErrRejected, and a fetch
// never overwrites local notes that are not on the remote yet.
func TestSmartHTTPRemote(t *testing.T) {
	srv := gitrepotest.NewServer(t)
	h := build(t)
	url := srv.Publish(t, "patches", h.g)
	ctx := context.Background()

	if _, err := gitrepo.CloneOrFetch(ctx, gitrepo.Remote{URL: url, CacheDir: t.TempDir(),
		Auth: gitrepo.Auth{Username: srv.User, Token: "wrong"}}); err == nil {
		t.Fatal("clone with a wrong password succeeded")
	}
	auth := gitrepo.Auth{Username: srv.User, Token: srv.Password}
	a, err := gitrepo.CloneOrFetch(ctx, gitrepo.Remote{URL: url, CacheDir: t.TempDir(), Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := gitrepo.CloneOrFetch(ctx, gitrepo.Remote{URL: url, CacheDir: t.TempDir(), Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, err := a.Head("main"); err != nil || got.String() != h.m2 {
		t.Fatalf("cloned main = %v, %v; want %s", got, err, h.m2)
	}
	m2, _ := gitrepo.ParseHash(h.m2)
	sig := gitrepo.Signature{Name: "t", Email: "t@example.com"}
	note := func(r *gitrepo.Repo, line string) {
		t.Helper()
		if _, err := r.UpdateNote(ctx, gitrepo.NotesRef, m2, sig, func(_ *gitrepo.Commit, old []byte) ([]byte, string, error) {
			return gitrepo.AppendLine(old, []byte(line)), "note\n", nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	note(a, "from a")
	if err := a.PushNotes(ctx, "origin", gitrepo.NotesRef); err != nil {
		t.Fatalf("push over smart HTTP: %v", err)
	}
	note(b, "from b")
	if err := b.PushNotes(ctx, "origin", gitrepo.NotesRef); !errors.Is(err, gitrepo.ErrRejected) {
		t.Fatalf("diverged push = %v, want ErrRejected", err)
	}
	// b's own note survives a fetch of the remote's.
	if err := b.FetchKeepNotes(ctx, "origin"); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Note(gitrepo.NotesRef, m2); string(got) != "from b\n" {
		t.Errorf("after FetchKeepNotes b's note = %q, want its unpushed %q", got, "from b\n")
	}
	if b.RemoteNotesTip("origin").IsZero() {
		t.Error("remote notes tip not fetched")
	}
	// A replica without records of its own follows the remote.
	c, err := gitrepo.CloneOrFetch(ctx, gitrepo.Remote{URL: url, CacheDir: t.TempDir(), Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	note(a, "from a again")
	if err := a.PushNotes(ctx, "origin", gitrepo.NotesRef); err != nil {
		t.Fatal(err)
	}
	if err := c.FetchKeepNotes(ctx, "origin"); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Note(gitrepo.NotesRef, m2); string(got) != "from a\nfrom a again\n" {
		t.Errorf("follower's note = %q", got)
	}
	// The git command line clones with the notes too.
	dir := t.TempDir()
	if _, err := gitrepotest.RunGit(dir, 0, nil, "clone", "-q", srv.AuthURL(url), "w"); err != nil {
		t.Fatal(err)
	}
	if srv.Pushes() < 3 {
		t.Errorf("pushes served = %d, want ≥ 3", srv.Pushes())
	}
}
