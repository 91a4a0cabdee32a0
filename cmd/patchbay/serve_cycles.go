package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/advisory"
	"github.com/patchbay/patchbay/engine/cycle"
	"github.com/patchbay/patchbay/engine/github"
	"github.com/patchbay/patchbay/engine/server"
)

// cycleServeFlags are patchbay serve's proposal-cycle flags.
type cycleServeFlags struct {
	repo, cache string
	offline     bool
	every       time.Duration
}

func addCycleServeFlags(cmd *cobra.Command) *cycleServeFlags {
	f := &cycleServeFlags{}
	fl := cmd.Flags()
	fl.StringVar(&f.repo, "github-repo", "", "GitHub repository owner/name the proposal cycles (config.cycles) open pull requests in; cycles run only with it")
	fl.StringVar(&f.cache, "advisories-cache", "", "advisory cache directory of the cycles (default <cache-dir>/advisories)")
	fl.BoolVar(&f.offline, "advisories-offline", false, "cycles use the advisory cache as it is, without syncing config.advisories")
	fl.DurationVar(&f.every, "cycles-every", time.Minute, "how often the server checks whether a cycle is due")
	return f
}

// validate checks the flags before anything starts.
func (f *cycleServeFlags) validate() error {
	if f.repo == "" {
		return nil
	}
	owner, name, ok := strings.Cut(f.repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return usageError("--github-repo %q: want owner/name", f.repo)
	}
	if f.every < time.Second {
		return usageError("--cycles-every must be at least 1s")
	}
	return nil
}

// start runs the scheduler in the background when --github-repo is set.
// Records go to the rollout controller's outbox (signed and pushed with
// the server's other records) when it publishes; otherwise they are
// logged only, and the server says so.
func (f *cycleServeFlags) start(ctx context.Context, bg *sync.WaitGroup, a *app, svc *github.Service, git github.GitSource, sr *servedRollouts, srv *server.Server, log *slog.Logger, branch, cacheDir string) error {
	if f.repo == "" {
		return nil
	}
	owner, name, _ := strings.Cut(f.repo, "/")
	if svc == nil {
		return usageError("--github-repo needs the GitHub settings (an App or --github-token-file, and the webhook secret) to open pull requests")
	}
	cache := f.cache
	if cache == "" {
		cache = filepath.Join(cacheDir, "advisories")
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return fmt.Errorf("--advisories-cache: %w", err)
	}
	var head *cycle.Head
	env := cycle.Funcs{
		HeadFunc: func(ctx context.Context) (*cycle.Head, error) {
			repo, rev, err := git.Sync(ctx, 0, branch)
			if err != nil {
				return nil, err
			}
			h, err := cycle.GitHead(ctx, repo, branch, rev, a.now())
			head = h
			return h, err
		},
		FeedsFunc: func(ctx context.Context) (*advisory.DB, error) {
			if fc := head.Repo.Config.Advisories; !f.offline && fc != nil {
				opts := advisory.SyncOptions{Now: a.now}
				if fc.MaxMiB > 0 {
					opts.MaxBytes = int64(fc.MaxMiB) << 20
				}
				sctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
				defer cancel()
				if _, err := advisory.Sync(sctx, cache, advisory.Sources(fc.Streams, fc.KEV, fc.EPSS), opts); err != nil {
					// A feed that is down leaves the cache as it was: go on
					// with it, and say so.
					log.Warn("cycles: advisory sync failed; using the cache", "err", err)
				}
			}
			db, err := advisory.LoadDir(ctx, cache, false)
			if err == nil && len(db.Advisories) == 0 {
				err = fmt.Errorf("the advisory cache %s holds no advisories: set config.advisories or fill it with patchbay advisories sync --cache %s", cache, cache)
			}
			return db, err
		},
		ReportsFunc: srv.Reports,
	}
	s := &cycle.Scheduler{Env: env, Client: svc.Client, Owner: owner, Name: name, Now: a.now, Log: log}
	if sr != nil {
		env.IsLeader = sr.Controller.Leader
		s.Env = env
		if sr.publish {
			s.Sink = sr.Controller
		}
	}
	if s.Sink == nil {
		fmt.Fprintf(a.stderr, "patchbay: warning: proposal cycles run, but their cycle.proposal records are only logged: give --repo with --publish and a signing key to record them\n")
	}
	bg.Go(func() { s.Run(ctx, f.every) })
	log.Info("proposal cycles on", "repo", f.repo, "cache", cache, "every", f.every.String())
	return nil
}
