package server_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/server"
)

// quickstartFiles returns the quickstart repository's files (without the
// inventory) as path → content.
func quickstartFiles(t *testing.T) map[string]string {
	t.Helper()
	root := fixture.Path(t, "examples/quickstart")
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if strings.HasPrefix(rel, "inventory") {
			return nil
		}
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestReloadGit serves the head of main of a real Git repository: a new
// commit is picked up, a broken commit keeps the last good model and shows
// in /readyz, and the fix after it loads.
func TestReloadGit(t *testing.T) {
	g := gitrepotest.New(t)
	files := quickstartFiles(t)
	first := g.Commit("quickstart", files)
	repo, err := gitrepo.Open(g.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	rl := server.NewReloader(server.GitSource{Repo: repo, Branch: "main", Name: "test"}, nil, clock)
	ctx := context.Background()
	if err := rl.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if m := rl.Model(); m == nil || m.Revision != first {
		t.Fatalf("model %+v, want revision %s", m, first)
	}
	e := newEnv(t, func(c *server.Config) { c.Models = rl })

	// A broken commit: the model stays, readiness reports the error.
	ring := files["rings/canary.cue"]
	bad := g.Commit("break canary", map[string]string{"rings/canary.cue": strings.Replace(ring, "baseline:", "baseline: 42 //", 1)})
	if err := rl.Check(ctx); err == nil {
		t.Fatal("broken commit loaded")
	}
	if m := rl.Model(); m.Revision != first {
		t.Errorf("after a broken commit the model is %s, want the last good %s", m.Revision, first)
	}
	code, body := e.do("GET", "/readyz", "", "", nil)
	r := decodeAs[api.Ready](t, body)
	if code != 200 || !r.Ready || r.Repository != first || r.LastError == "" {
		t.Errorf("readyz after a broken commit: %d %+v", code, r)
	}
	// Checking again does not reload the same broken revision.
	if err := rl.Check(ctx); err != nil {
		t.Errorf("re-check of the known bad revision %s: %v", bad, err)
	}
	// The fix loads.
	fixed := g.Commit("fix canary", map[string]string{"rings/canary.cue": ring + "\n"})
	if err := rl.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if m := rl.Model(); m.Revision != fixed {
		t.Errorf("model %s, want %s", m.Revision, fixed)
	}
	_, body = e.do("GET", "/readyz", "", "", nil)
	if r := decodeAs[api.Ready](t, body); r.LastError != "" || r.Repository != fixed {
		t.Errorf("readyz after the fix: %+v", r)
	}
}

// TestReloadDir: a plain directory is reloaded when a file changes.
func TestReloadDir(t *testing.T) {
	dir := t.TempDir()
	for p, c := range quickstartFiles(t) {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rl := server.NewReloader(server.DirSource{Dir: dir}, nil, clock)
	ctx := context.Background()
	if err := rl.Check(ctx); err != nil {
		t.Fatal(err)
	}
	r1 := rl.Model().Revision
	if err := os.WriteFile(filepath.Join(dir, "rings", "canary.cue"), []byte("rings: canary: {"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rl.Check(ctx); err == nil || rl.Model().Revision != r1 {
		t.Errorf("broken directory: err %v, model %s (want %s kept)", err, rl.Model().Revision, r1)
	}
	if m, err := rl.Status(); m == nil || err == nil {
		t.Errorf("Status = %v, %v; want the old model and the error", m, err)
	}
}

// TestNoModel: without a loadable repository the server answers 503 on
// assignments and plans, and /readyz is 503.
func TestNoModel(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "patchbay.cue"), []byte("nonsense: ["), 0o644); err != nil {
		t.Fatal(err)
	}
	rl := server.NewReloader(server.DirSource{Dir: dir}, nil, clock)
	if err := rl.Check(context.Background()); err == nil {
		t.Fatal("broken repository loaded")
	}
	e := newEnv(t, func(c *server.Config) { c.Models = rl })
	tok := e.enroll("deb12-pilot-01", nil)
	_, raw := quickstart(t)
	if code, body := e.do("PUT", "/api/v1/hosts/deb12-pilot-01/report", tok, api.MediaReport, raw["deb12-pilot-01"]); code != 200 {
		t.Errorf("report without a model: %d %s (reports are stored regardless)", code, body)
	}
	if code, _ := e.do("GET", "/api/v1/hosts/deb12-pilot-01/assignment", tok, "", nil); code != 503 {
		t.Errorf("assignment without a model: %d, want 503", code)
	}
	if code, _ := e.do("GET", "/api/v1/plan", e.adminTok, "", nil); code != 503 {
		t.Errorf("plan without a model: %d, want 503", code)
	}
	if code, _ := e.do("GET", "/readyz", "", "", nil); code != 503 {
		t.Errorf("readyz without a model: %d, want 503", code)
	}
}

// TestReloadRemote: a --repo source is a mirror clone fetched before each
// check; a commit pushed to the remote's main is served after the fetch.
func TestReloadRemote(t *testing.T) {
	origin := gitrepotest.New(t)
	files := quickstartFiles(t)
	first := origin.Commit("quickstart", files)
	repo, err := gitrepo.CloneOrFetch(context.Background(), gitrepo.Remote{URL: origin.Dir, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	rl := server.NewReloader(server.GitSource{Repo: repo, Branch: "main", Remote: "origin", Name: origin.Dir}, nil, clock)
	ctx := context.Background()
	if err := rl.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rl.Model().Revision; got != first {
		t.Fatalf("revision %s, want %s", got, first)
	}
	second := origin.Commit("touch", map[string]string{"rings/canary.cue": files["rings/canary.cue"] + "\n// touched\n"})
	if err := rl.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rl.Model().Revision; got != second {
		t.Errorf("after a remote commit: revision %s, want %s", got, second)
	}
}

// TestReloadExpiredException (issue 12, item 3): an exception that expires
// on the served branch does not make the server refuse the repository — a
// restarted server still loads the model, and the expired exception no
// longer counts in plans.
func TestReloadExpiredException(t *testing.T) {
	dir := t.TempDir()
	for p, c := range quickstartFiles(t) {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	after := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC) // billing-openssl expired 2027-02-15
	rl := server.NewReloader(server.DirSource{Dir: dir}, nil, func() time.Time { return after })
	if err := rl.Check(context.Background()); err != nil {
		t.Fatalf("a repository whose exception expired must still load: %v", err)
	}
	m := rl.Model()
	if len(m.Repo.TimeFindings) != 1 || m.Repo.Exceptions[0].Active(after) {
		t.Fatalf("want the expired exception reported and not counted: findings %v", m.Repo.TimeFindings)
	}
}
