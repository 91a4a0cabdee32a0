package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/rollout"
	"github.com/patchbay/patchbay/engine/server"
	"github.com/patchbay/patchbay/engine/store"
)

// rolloutServeFlags are the rollout controller's flags of patchbay serve.
type rolloutServeFlags struct {
	signingKey string
	controller string
	tick       time.Duration
	// pickup and rebootGrace tune the reclaim of silent host steps (the
	// ring's strategy.stepTimeout is the main timeout).
	pickup      time.Duration
	rebootGrace time.Duration
	branch      string // serve's --branch
	remote      string // "origin" when the records are published (serve --repo)
}

// addRolloutServeFlags registers --signing-key, --controller and --tick on
// the serve command; the branch is serve's --branch.
func addRolloutServeFlags(cmd *cobra.Command) *rolloutServeFlags {
	f := &rolloutServeFlags{}
	cmd.Flags().StringVar(&f.signingKey, "signing-key", "", "key (file or KMS URI) signing the rollout audit records; without it transitions wait in the store")
	cmd.Flags().StringVar(&f.controller, "controller", "on", "run the rollout controller on this replica: on|off (replicas elect one leader)")
	cmd.Flags().DurationVar(&f.tick, "tick", rollout.DefaultTick, "how often the rollout controller runs")
	cmd.Flags().DurationVar(&f.pickup, "pickup-timeout", rollout.DefaultPickupTimeout, "how long a host of a new wave has to fetch its actions before it counts as timed out (agents poll every --interval, default 15m)")
	cmd.Flags().DurationVar(&f.rebootGrace, "reboot-grace", rollout.DefaultRebootGrace, "time added to the ring's strategy.stepTimeout while a host's agent said it is rebooting")
	return f
}

// servedRollouts is the controller of a serve command, wired in two steps
// because the server takes the controller as its Assigner and the
// controller plans hosts through the server.
type servedRollouts struct {
	Controller *rollout.Controller
	srv        *server.Server
	run        bool
	// publish is true when the controller signs and pushes records to
	// the repository's remote.
	publish bool
	// keys are the controller's own signing key, trusted when the
	// dashboard checks the audit trail's signatures.
	keys []audit.TrustedKey
}

// newServedRollouts builds the controller (step 1): pass the result's
// Controller as server.Config.Assigner, then call Attach with the server.
// It returns nil with --controller off and no error.
func (a *app) newServedRollouts(ctx context.Context, f *rolloutServeFlags, st *store.Store, repo *gitrepo.Repo, log *slog.Logger) (*servedRollouts, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	var signer *audit.Signer
	if f.signingKey != "" {
		var err error
		if signer, err = a.loadSigner(ctx, f.signingKey); err != nil {
			return nil, err
		}
	}
	sr := &servedRollouts{run: f.controller == "on", publish: f.remote != "" && signer != nil}
	if signer != nil {
		k, err := audit.TrustedKeyOf(signer.PublicKey())
		if err != nil {
			return nil, err
		}
		sr.keys = []audit.TrustedKey{k}
	}
	c, err := rollout.New(rollout.Config{Store: st, Repo: repo, Signer: signer,
		Inventory: rollout.InventoryFunc(func(ctx context.Context) ([]*inventory.Report, error) {
			if sr.srv == nil {
				return nil, fmt.Errorf("rollout: server not attached")
			}
			return sr.srv.Reports(ctx)
		}),
		Planner: rollout.PlannerFunc(func(ctx context.Context, h store.Host) (*plan.Host, error) {
			if sr.srv == nil {
				return nil, nil
			}
			return sr.srv.HostPlan(ctx, h)
		}),
		Options: rollout.Options{Tick: f.tick, Branch: f.branch, Now: a.now, Logger: log, Remote: f.remote,
			PickupTimeout: f.pickup, RebootGrace: f.rebootGrace}})
	if err != nil {
		return nil, err
	}
	sr.Controller = c
	return sr, nil
}

// Attach (step 2) serves the rollout admin endpoints on srv and, with
// --controller on, runs the controller in bg until ctx ends.
func (sr *servedRollouts) Attach(ctx context.Context, srv *server.Server, bg *sync.WaitGroup) {
	sr.srv = srv
	srv.EnableRollouts(sr.Controller)
	if sr.run {
		bg.Go(func() { _ = sr.Controller.Run(ctx) }) // Run logs its errors and returns nil
	}
}

// serveRollouts builds the rollout controller of patchbay serve when the
// patch repository is a Git repository (a plain directory has no commits
// to roll out: nil then, and the server assigns every planned action).
func (a *app) serveRollouts(ctx context.Context, f *rolloutServeFlags, src server.Source, branch string, st *store.Store, log *slog.Logger) (*servedRollouts, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	gs, ok := src.(server.GitSource)
	if !ok {
		log.Info("rollout controller off: the patch repository is not a Git repository")
		return nil, nil
	}
	f.branch = branch
	return a.newServedRollouts(ctx, f, st, gs.Repo, log)
}

// check refuses bad controller flags (usage errors).
func (f *rolloutServeFlags) check() error {
	switch f.controller {
	case "on", "off":
	default:
		return usageError("--controller %q: want on or off", f.controller)
	}
	if f.tick <= 0 {
		return usageError("--tick must be positive")
	}
	if f.pickup < time.Minute || f.pickup >= rollout.DefaultWaveTimeout {
		return usageError("--pickup-timeout %s: want at least 1m and less than the wave timeout (%s)", f.pickup, rollout.DefaultWaveTimeout)
	}
	if f.rebootGrace < time.Minute || f.rebootGrace >= rollout.DefaultWaveTimeout {
		return usageError("--reboot-grace %s: want at least 1m and less than the wave timeout (%s)", f.rebootGrace, rollout.DefaultWaveTimeout)
	}
	return nil
}
