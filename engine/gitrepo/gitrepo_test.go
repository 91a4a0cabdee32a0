package gitrepo_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
)

func hash(s string) gitrepo.Hash {
	var h gitrepo.Hash
	copy(h[:], mustHex(s))
	return h
}

func mustHex(s string) []byte {
	b := make([]byte, len(s)/2)
	if _, err := fmt.Sscanf(s, "%x", &b); err != nil {
		panic(err)
	}
	return b
}

func open(t *testing.T, dir string) *gitrepo.Repo {
	t.Helper()
	r, err := gitrepo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// history builds: c1 - c2 - M1(PR #1) - c3 - M2(PR #2) on main, with a
// tag v1 on c2 and an unmerged branch feature off M1.
type history struct {
	g                          *gitrepotest.Repo
	c1, c2, m1, h1, c3, m2, h2 string
	feature                    string
}

func build(t *testing.T) history {
	g := gitrepotest.New(t)
	var h history
	h.g = g
	h.c1 = g.Commit("initial", map[string]string{"patchbay.cue": "package patchbay\n", "rings/canary.cue": "ring: canary\n"})
	h.c2 = g.Commit("add baseline", map[string]string{"baselines/b1.cue": "id: \"b1\"\n", "policy/x.rego": "package x\n"})
	g.Git("tag", "-a", "-m", "v1", "v1")
	h.m1, h.h1 = g.MergePR(1, "alice", "promote-pilot", map[string]string{"rings/pilot.cue": "ring: pilot\n"})
	h.c3 = g.Commit("direct fix", map[string]string{"patchbay.cue": "package patchbay // fixed\n", "policy/x.rego": ""})
	g.Git("checkout", "-q", "-b", "feature", h.m1)
	h.feature = g.Commit("feature work", map[string]string{"baselines/b2.cue": "id: \"b2\"\n"})
	g.Git("checkout", "-q", "main")
	h.m2, h.h2 = g.MergePR(2, "bob", "hotfix", map[string]string{"baselines/b1-hotfix.cue": "id: \"b1-hotfix\"\n"})
	return h
}

func TestResolve(t *testing.T) {
	h := build(t)
	r := open(t, h.g.Dir)
	tests := []struct {
		name, rev, want string
	}{
		{"full hash", h.c2, h.c2},
		{"short hash", h.c2[:8], h.c2},
		{"branch", "main", h.m2},
		{"HEAD", "HEAD", h.m2},
		{"full ref", "refs/heads/feature", h.feature},
		{"annotated tag peeled", "v1", h.c2},
		{"first parent", "main~1", h.c3},
		{"second parent", "main^2", h.h2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Resolve(tt.rev)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want {
				t.Errorf("Resolve(%q) = %s, want %s", tt.rev, got, tt.want)
			}
		})
	}
	if _, err := r.Resolve("no-such-branch"); !errors.Is(err, gitrepo.ErrNotFound) {
		t.Errorf("Resolve(no-such-branch) error = %v, want ErrNotFound", err)
	}
}

func TestTreeFS(t *testing.T) {
	h := build(t)
	r := open(t, h.g.Dir)
	tfs, err := r.TreeFS(hash(h.m2))
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(tfs, "patchbay.cue", "rings/canary.cue", "rings/pilot.cue", "baselines/b1.cue", "baselines/b1-hotfix.cue"); err != nil {
		t.Fatal(err)
	}
	// Content and absence match what git says at that commit.
	data, err := fs.ReadFile(tfs, "patchbay.cue")
	if err != nil {
		t.Fatal(err)
	}
	if want := h.g.Git("show", h.m2+":patchbay.cue"); strings.TrimSpace(string(data)) != want {
		t.Errorf("patchbay.cue = %q, want %q", data, want)
	}
	if _, err := fs.Stat(tfs, "policy/x.rego"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("deleted file: Stat error = %v, want ErrNotExist", err)
	}
	// An older commit has the older tree.
	old, err := r.TreeFS(hash(h.c2))
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(old, "policy/x.rego", "baselines/b1.cue"); err != nil {
		t.Fatal(err)
	}
	var names []string
	err = fs.WalkDir(old, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Fields(h.g.Git("ls-tree", "-r", "--name-only", h.c2))
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("files at c2 (-git +TreeFS):\n%s", diff)
	}
}

func TestChangedPaths(t *testing.T) {
	h := build(t)
	r := open(t, h.g.Dir)
	tests := []struct{ name, from, to string }{
		{"merge", h.c2, h.m1},
		{"direct commit with deletion", h.m1, h.c3},
		{"range", h.c1, h.m2},
		{"none", h.m2, h.m2},
		{"backwards", h.m2, h.c1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.ChangedPaths(context.Background(), hash(tt.from), hash(tt.to))
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Fields(h.g.Git("diff", "--name-only", "--no-renames", tt.from, tt.to))
			if len(want) == 0 {
				want = []string{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ChangedPaths (-git +ours):\n%s", diff)
			}
		})
	}
}

func TestMergeBase(t *testing.T) {
	h := build(t)
	r := open(t, h.g.Dir)
	tests := []struct{ name, a, b string }{
		{"feature vs main", h.feature, h.m2},
		{"pr head vs main", h.h2, h.m2},
		{"ancestor", h.c1, h.c3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.MergeBase(hash(tt.a), hash(tt.b))
			if err != nil {
				t.Fatal(err)
			}
			if want := h.g.Git("merge-base", tt.a, tt.b); got.String() != want {
				t.Errorf("MergeBase = %s, git says %s", got, want)
			}
		})
	}
}

func TestFirstParent(t *testing.T) {
	for _, graph := range []bool{false, true} {
		t.Run(fmt.Sprintf("commit-graph=%v", graph), func(t *testing.T) {
			h := build(t)
			if graph {
				h.g.Git("commit-graph", "write", "--reachable")
			}
			r := open(t, h.g.Dir)
			var got []string
			err := r.FirstParent(context.Background(), hash(h.m2), func(n *gitrepo.Node) error {
				got = append(got, n.Hash.String())
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Fields(h.g.Git("rev-list", "--first-parent", "main"))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("first-parent (-git +ours):\n%s", diff)
			}
			// Early stop after the first merge older than the head.
			var seen []string
			err = r.FirstParent(context.Background(), hash(h.m2), func(n *gitrepo.Node) error {
				seen = append(seen, n.Hash.String())
				if len(n.Parents) == 2 && n.Hash.String() != h.m2 {
					c, err := n.Commit()
					if err != nil {
						return err
					}
					if !strings.HasPrefix(c.Subject(), "Merge pull request #1 ") {
						t.Errorf("subject %q", c.Subject())
					}
					return gitrepo.ErrStop
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{h.m2, h.c3, h.m1}, seen); diff != "" {
				t.Errorf("early stop (-want +got):\n%s", diff)
			}
		})
	}
}

var sig = gitrepo.Signature{Name: "patchbay", Email: "patchbay@example.com", When: time.Unix(1767225600, 0).UTC()}

func appendNote(t *testing.T, r *gitrepo.Repo, commit, line string) {
	t.Helper()
	_, err := r.UpdateNote(context.Background(), gitrepo.NotesRef, hash(commit), sig,
		func(_ *gitrepo.Commit, old []byte) ([]byte, string, error) {
			return gitrepo.AppendLine(old, []byte(line)), "Notes added by 'patchbay'\n", nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNotesReadByGit(t *testing.T) {
	h := build(t)
	r := open(t, h.g.Dir)
	appendNote(t, r, h.m1, `{"n":1}`)
	appendNote(t, r, h.m2, `{"n":2}`)
	appendNote(t, r, h.m1, `{"n":3}`)
	tests := []struct{ commit, want string }{
		{h.m1, "{\"n\":1}\n{\"n\":3}"},
		{h.m2, `{"n":2}`},
	}
	for _, tt := range tests {
		if got := h.g.Git("notes", "--ref=patchbay", "show", tt.commit); got != tt.want {
			t.Errorf("git notes show %s = %q, want %q", tt.commit[:8], got, tt.want)
		}
	}
	log := h.g.Git("log", "--notes=patchbay", "--format=%H%n%N", "-n", "1", h.m1)
	if want := h.m1 + "\n{\"n\":1}\n{\"n\":3}"; log != want {
		t.Errorf("git log --notes=patchbay = %q, want %q", log, want)
	}
	if out := h.g.Git("log", "--notes=patchbay", "-n", "1", h.m2); !strings.Contains(out, "Notes (patchbay):\n    {\"n\":2}") {
		t.Errorf("git log does not show the note:\n%s", out)
	}
	// git's own integrity check and notes listing agree.
	h.g.Git("fsck", "--strict")
	if got := len(strings.Split(h.g.Git("notes", "--ref=patchbay", "list"), "\n")); got != 2 {
		t.Errorf("git notes list: %d notes, want 2", got)
	}
	// The notes history has one commit per write.
	if got := h.g.Git("rev-list", "--count", gitrepo.NotesRef); got != "3" {
		t.Errorf("notes commits = %s, want 3", got)
	}
}

func TestNotesWrittenByGit(t *testing.T) {
	for _, n := range []int{3, 600} { // git writes flat trees for few notes, fans out for many
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			merges := gitrepotest.Generate(t, dir, 2*n+1, func(k int, _ string) string { return fmt.Sprintf("note %d", k) })
			g := &gitrepotest.Repo{TB: t, Dir: dir}
			tree := g.Git("ls-tree", gitrepo.NotesRef)
			fanned := strings.Contains(tree, " tree ")
			if want := n > 256; fanned != want {
				t.Logf("notes tree fanned out = %v (n=%d)", fanned, n)
			}
			r := open(t, dir)
			notes, err := r.Notes(gitrepo.NotesRef)
			if err != nil {
				t.Fatal(err)
			}
			if len(notes) != len(merges) {
				t.Fatalf("read %d notes, want %d", len(notes), len(merges))
			}
			for k, m := range merges {
				b, err := r.Blob(notes[hash(m)])
				if err != nil {
					t.Fatal(err)
				}
				if want := fmt.Sprintf("note %d", k); string(b) != want {
					t.Fatalf("note on merge %d = %q, want %q", k, b, want)
				}
			}
			// Writing onto git's tree converts it to our fan-out; git still reads every note.
			appendNote(t, r, merges[0], "appended")
			if got := g.Git("notes", "--ref=patchbay", "show", merges[0]); got != "note 0\nappended" {
				t.Errorf("after append: %q", got)
			}
			if got := g.Git("notes", "--ref=patchbay", "show", merges[len(merges)-1]); got != fmt.Sprintf("note %d", len(merges)-1) {
				t.Errorf("untouched note: %q", got)
			}
			if got := len(strings.Split(g.Git("notes", "--ref=patchbay", "list"), "\n")); got != len(merges) {
				t.Errorf("git notes list: %d, want %d", got, len(merges))
			}
			b, err := r.Note(gitrepo.NotesRef, hash(merges[1]))
			if err != nil || string(b) != "note 1" {
				t.Errorf("Note = %q, %v", b, err)
			}
		})
	}
}

func TestNotesConcurrentWriters(t *testing.T) {
	h := build(t)
	dir := h.g.Dir
	// Two Repo values on the same directory: only the ref's compare-and-swap
	// keeps them from losing each other's notes.
	r1, r2 := open(t, dir), open(t, dir)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := r1
			if i%2 == 1 {
				r = r2
			}
			appendNote(t, r, h.m1, fmt.Sprintf("line %02d", i))
		}()
	}
	wg.Wait()
	got := strings.Split(h.g.Git("notes", "--ref=patchbay", "show", h.m1), "\n")
	if len(got) != 20 {
		t.Errorf("%d lines after 20 concurrent appends:\n%s", len(got), strings.Join(got, "\n"))
	}
}

func TestSyncNotesTwoClones(t *testing.T) {
	h := build(t)
	bare := t.TempDir()
	gitrepotest.RunGit(bare, 0, nil, "init", "-q", "--bare")
	h.g.Git("push", "-q", bare, "main")
	clone := func() (*gitrepotest.Repo, *gitrepo.Repo) {
		d := t.TempDir()
		if _, err := gitrepotest.RunGit(d, 0, nil, "clone", "-q", bare, "."); err != nil {
			t.Fatal(err)
		}
		return &gitrepotest.Repo{TB: t, Dir: d}, open(t, d)
	}
	ga, a := clone()
	_, b := clone()
	ctx := context.Background()
	appendNote(t, a, h.m1, "from a")
	if err := a.SyncNotes(ctx, "origin", gitrepo.NotesRef, sig); err != nil {
		t.Fatal(err)
	}
	// b has not fetched: its plain push is rejected, SyncNotes merges and retries.
	appendNote(t, b, h.m1, "from b")
	appendNote(t, b, h.m2, "only b")
	if err := b.PushNotes(ctx, "origin", gitrepo.NotesRef); !errors.Is(err, gitrepo.ErrRejected) {
		t.Fatalf("diverged push: err = %v, want ErrRejected", err)
	}
	if err := b.SyncNotes(ctx, "origin", gitrepo.NotesRef, sig); err != nil {
		t.Fatal(err)
	}
	// Concurrent writers on both clones.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := a
			if i%2 == 1 {
				r = b
			}
			appendNote(t, r, h.c3, fmt.Sprintf("w%d", i))
			if err := r.SyncNotes(ctx, "origin", gitrepo.NotesRef, sig); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := a.SyncNotes(ctx, "origin", gitrepo.NotesRef, sig); err != nil {
		t.Fatal(err)
	}
	ga.Git("fetch", "-q", "origin", "+refs/notes/patchbay:refs/notes/patchbay")
	show := func(c string) []string {
		out := strings.Split(ga.Git("notes", "--ref=patchbay", "show", c), "\n")
		slices.Sort(out) // a union merge keeps each side's order, not a global one
		return out
	}
	if diff := cmp.Diff([]string{"from a", "from b"}, show(h.m1)); diff != "" {
		t.Errorf("m1 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"only b"}, show(h.m2)); diff != "" {
		t.Errorf("m2 (-want +got):\n%s", diff)
	}
	if got := show(h.c3); len(got) != 6 {
		t.Errorf("c3 has %d lines, want 6: %q", len(got), got)
	}
}
