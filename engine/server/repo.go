package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/gitrepo"
)

// Source is where the patch repository comes from. Revision is cheap and
// names what Load would load; the Reloader loads only when it changes.
type Source interface {
	// Revision returns the current revision (a commit, or a content hash).
	Revision(ctx context.Context) (string, error)
	// Load loads and validates the repository at rev.
	Load(ctx context.Context, rev string, now time.Time) (*baseline.Repository, error)
	// String describes the source for logs.
	String() string
}

// DirSource reads a directory as it is (not a Git repository). Its revision
// is a hash of every file's path and content.
type DirSource struct{ Dir string }

// Revision hashes the directory's files.
func (d DirSource) Revision(ctx context.Context) (string, error) {
	h := sha256.New()
	fsys := os.DirFS(d.Dir)
	err := fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if e.Name() == ".git" || (p != "." && e.Name()[0] == '.') {
				return fs.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		return ctx.Err()
	})
	if err != nil {
		return "", fmt.Errorf("revision of %s: %w", d.Dir, err)
	}
	return "dir:" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// Load loads the directory. An expired exception does not fail the load:
// it is reported in Repository.TimeFindings and no longer counts.
func (d DirSource) Load(ctx context.Context, _ string, now time.Time) (*baseline.Repository, error) {
	return baseline.LoadDir(ctx, d.Dir, baseline.Options{Now: now, ExpiryAsFinding: true})
}

func (d DirSource) String() string { return d.Dir }

// GitSource reads the head commit of Branch of a Git repository, fetching
// Remote first when it is set (a clone kept by gitrepo.CloneOrFetch).
type GitSource struct {
	Repo   *gitrepo.Repo
	Branch string
	// Remote, when not empty, is fetched before each Revision.
	Remote string
	// Name describes the repository for logs.
	Name string
}

// Revision fetches (for remote sources) and returns the branch's head.
// The fetch never overwrites local audit notes that are not on the remote
// yet (gitrepo.Repo.FetchKeepNotes): the publisher pushes those.
func (g GitSource) Revision(ctx context.Context) (string, error) {
	if g.Remote != "" {
		if err := g.Repo.FetchKeepNotes(ctx, g.Remote); err != nil {
			return "", err
		}
	}
	h, err := g.Repo.Head(g.Branch)
	if err != nil {
		return "", fmt.Errorf("head of %s: %w", g.Branch, err)
	}
	return h.String(), nil
}

// Load loads the tree at commit rev; an expired exception is a time
// finding, as for DirSource.
func (g GitSource) Load(ctx context.Context, rev string, now time.Time) (*baseline.Repository, error) {
	h, err := gitrepo.ParseHash(rev)
	if err != nil {
		return nil, err
	}
	tree, err := g.Repo.TreeFS(h)
	if err != nil {
		return nil, err
	}
	return baseline.Load(ctx, tree, baseline.Options{Now: now, ExpiryAsFinding: true})
}

func (g GitSource) String() string { return g.Name + "@" + g.Branch }

// Model is one loaded patch repository revision.
type Model struct {
	Repo     *baseline.Repository
	Revision string
	LoadedAt time.Time
}

// Reloader keeps the latest good Model of a Source. A revision that fails
// to load is logged and reported by Status; the last good model stays.
type Reloader struct {
	src Source
	log *slog.Logger
	now func() time.Time

	mu      sync.RWMutex
	model   *Model
	lastErr error
	badRev  string
}

// NewReloader returns a Reloader of src; call Check (or Run) to load.
func NewReloader(src Source, log *slog.Logger, now func() time.Time) *Reloader {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reloader{src: src, log: log, now: now}
}

// Model returns the current model, or nil before the first good load.
func (r *Reloader) Model() *Model {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.model
}

// Status returns the current model and the last load error, if the latest
// revision failed.
func (r *Reloader) Status() (*Model, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.model, r.lastErr
}

// Check loads the source's current revision when it differs from the
// loaded one (and from the last revision that failed).
func (r *Reloader) Check(ctx context.Context) error {
	rev, err := r.src.Revision(ctx)
	if err != nil {
		r.fail("", err)
		return err
	}
	r.mu.RLock()
	same := (r.model != nil && r.model.Revision == rev) || (r.badRev == rev && r.lastErr != nil)
	r.mu.RUnlock()
	if same {
		return nil
	}
	now := r.now()
	repo, err := r.src.Load(ctx, rev, now)
	if err != nil {
		r.fail(rev, err)
		return err
	}
	r.mu.Lock()
	r.model = &Model{Repo: repo, Revision: rev, LoadedAt: now}
	r.lastErr, r.badRev = nil, ""
	r.mu.Unlock()
	r.log.Info("patch repository loaded", "source", r.src.String(), "revision", rev, "rings", len(repo.Rings), "baselines", len(repo.Baselines))
	for _, f := range repo.TimeFindings {
		// An expired exception no longer counts (plans skip it); the model
		// is served anyway rather than refusing every host.
		r.log.Warn("patch repository: exception no longer counted", "revision", rev, "finding", f.String())
	}
	return nil
}

func (r *Reloader) fail(rev string, err error) {
	r.mu.Lock()
	r.lastErr, r.badRev = err, rev
	kept := ""
	if r.model != nil {
		kept = r.model.Revision
	}
	r.mu.Unlock()
	r.log.Error("patch repository not loaded; keeping the last good model", "source", r.src.String(), "revision", rev, "kept", kept, "err", err)
}

// Run checks the source every interval until ctx ends.
func (r *Reloader) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = r.Check(ctx) // logged by Check
		}
	}
}
