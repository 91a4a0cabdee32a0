package cycle

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/patchbay/patchbay/engine/advisory"
	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/inventory"
)

// Head is the main branch as a cycle reads it.
type Head struct {
	Repo   *baseline.Repository
	Tree   fs.FS
	Branch string
	Commit string
	// Close releases the tree; nil means nothing to release.
	Close func()
}

// Env is what the scheduler needs from the server at each tick.
type Env interface {
	// Leader reports whether this replica runs the cycles (one replica
	// does; the branch key keeps a second from opening a duplicate).
	Leader() bool
	// Head returns the main branch's head.
	Head(ctx context.Context) (*Head, error)
	// Feeds returns the advisory feeds, synced or from the cache.
	Feeds(ctx context.Context) (*advisory.DB, error)
	// Reports returns the latest report of every host.
	Reports(ctx context.Context) ([]*inventory.Report, error)
}

// RecordSink takes the cycle.proposal records for signing and publishing
// (the rollout controller's outbox).
type RecordSink interface {
	Enqueue(ctx context.Context, commit gitrepo.Hash, p audit.Predicate, actor string) error
}

// Scheduler runs config.cycles when they are due. A calendar cycle runs
// once per period; a KEV cycle looks for new KEV entries every
// KEVInterval (by default a quarter of its kev.within, between 5 minutes
// and an hour). A failed run is retried after RetryAfter. What a run did
// is logged and, except for a KEV cycle that found nothing, sent to Sink.
type Scheduler struct {
	Env         Env
	Sink        RecordSink
	Client      *gh.Client
	Owner, Name string
	Now         func() time.Time
	Log         *slog.Logger
	KEVInterval time.Duration
	RetryAfter  time.Duration

	mu      sync.Mutex
	done    map[string]string    // calendar cycle → period done
	lastRun map[string]time.Time // cycle → last attempt
	failed  map[string]bool
}

func (s *Scheduler) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s *Scheduler) kevInterval(c baseline.Cycle) time.Duration {
	if s.KEVInterval > 0 {
		return s.KEVInterval
	}
	return min(max(time.Duration(c.KEV.Within)/4, 5*time.Minute), time.Hour)
}

// due reports whether c should run now, and the calendar period.
func (s *Scheduler) due(c baseline.Cycle, now time.Time) (bool, error) {
	retry := s.RetryAfter
	if retry <= 0 {
		retry = 15 * time.Minute
	}
	if s.failed[c.Name] && now.Sub(s.lastRun[c.Name]) < retry {
		return false, nil
	}
	switch {
	case c.Schedule != nil:
		p, err := Current(c.Schedule, now)
		if err != nil {
			return false, err
		}
		return s.done[c.Name] != p.Key, nil
	case c.KEV != nil:
		last, ok := s.lastRun[c.Name]
		return !ok || now.Sub(last) >= s.kevInterval(c), nil
	}
	return false, nil
}

// Tick runs every due cycle once and returns what they did.
func (s *Scheduler) Tick(ctx context.Context) ([]*Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		s.done, s.lastRun, s.failed = map[string]string{}, map[string]time.Time{}, map[string]bool{}
	}
	if !s.Env.Leader() {
		return nil, nil
	}
	head, err := s.Env.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("cycles: main branch: %w", err)
	}
	if head.Close != nil {
		defer head.Close()
	}
	now := s.Now()
	var due []baseline.Cycle
	for _, c := range head.Repo.Config.Cycles {
		ok, err := s.due(c, now)
		if err != nil {
			s.log().Error("cycle: schedule", "cycle", c.Name, "err", err)
			continue
		}
		if ok {
			due = append(due, c)
		}
	}
	if len(due) == 0 {
		return nil, nil
	}
	// Inputs that fail make every due cycle wait RetryAfter, not a tick.
	wait := func() {
		for _, c := range due {
			s.lastRun[c.Name], s.failed[c.Name] = now, true
		}
	}
	db, err := s.Env.Feeds(ctx)
	if err != nil {
		wait()
		return nil, fmt.Errorf("cycles: advisory feeds: %w", err)
	}
	reports, err := s.Env.Reports(ctx)
	if err != nil {
		wait()
		return nil, fmt.Errorf("cycles: host reports: %w", err)
	}
	var out []*Result
	for _, c := range due {
		res, err := Run(ctx, Input{Cycle: c, Repo: head.Repo, Tree: head.Tree, BaseBranch: head.Branch, BaseCommit: head.Commit,
			DB: db, Reports: reports, Now: now, Owner: s.Owner, Name: s.Name, Client: s.Client})
		s.lastRun[c.Name] = now
		s.failed[c.Name] = err != nil
		rec := res.Record
		if err != nil {
			s.log().Error("cycle: run failed", "cycle", c.Name, "period", rec.Period, "err", err)
		} else {
			s.log().Info("cycle: ran", "cycle", c.Name, "period", rec.Period, "outcome", rec.Outcome, "pr", rec.PR, "baseline", rec.BaselineID)
			if c.Schedule != nil {
				s.done[c.Name] = rec.Period
			}
		}
		out = append(out, res)
		if c.KEV != nil && rec.Outcome == audit.CycleNothing {
			continue // looked, found nothing new: no record every few minutes
		}
		if s.Sink != nil {
			h, perr := gitrepo.ParseHash(head.Commit)
			if perr != nil {
				return out, fmt.Errorf("cycles: head commit %q: %w", head.Commit, perr)
			}
			if err := s.Sink.Enqueue(ctx, h, rec, "cycle:"+c.Name); err != nil {
				return out, fmt.Errorf("cycles: record %s %s: %w", c.Name, rec.Period, err)
			}
		}
	}
	return out, nil
}

// Run ticks every interval until ctx ends.
func (s *Scheduler) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.Tick(ctx); err != nil {
			s.log().Error("cycles", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Funcs is an Env made of functions; a nil IsLeader means always leader.
type Funcs struct {
	IsLeader    func() bool
	HeadFunc    func(ctx context.Context) (*Head, error)
	FeedsFunc   func(ctx context.Context) (*advisory.DB, error)
	ReportsFunc func(ctx context.Context) ([]*inventory.Report, error)
}

// Leader implements Env.
func (f Funcs) Leader() bool { return f.IsLeader == nil || f.IsLeader() }

// Head implements Env.
func (f Funcs) Head(ctx context.Context) (*Head, error) { return f.HeadFunc(ctx) }

// Feeds implements Env.
func (f Funcs) Feeds(ctx context.Context) (*advisory.DB, error) { return f.FeedsFunc(ctx) }

// Reports implements Env.
func (f Funcs) Reports(ctx context.Context) ([]*inventory.Report, error) { return f.ReportsFunc(ctx) }

// GitHead loads branch's head commit rev of repo as a Head; closing it
// closes repo.
func GitHead(ctx context.Context, repo *gitrepo.Repo, branch, rev string, now time.Time) (*Head, error) {
	h, err := gitrepo.ParseHash(rev)
	if err != nil {
		repo.Close()
		return nil, err
	}
	tree, err := repo.TreeFS(h)
	if err != nil {
		repo.Close()
		return nil, err
	}
	model, err := baseline.Load(ctx, tree, baseline.Options{Now: now})
	if err != nil {
		repo.Close()
		return nil, fmt.Errorf("%s at %s does not load: %w", branch, rev[:min(12, len(rev))], err)
	}
	return &Head{Repo: model, Tree: tree, Branch: branch, Commit: h.String(), Close: func() { repo.Close() }}, nil
}
