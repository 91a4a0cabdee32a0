package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/plural"
)

// Collector produces the host's current report.
type Collector interface {
	Collect(ctx context.Context) (*inventory.Report, error)
}

// LocalCollector collects the machine mounted at Root with inventory.Collect.
type LocalCollector struct {
	Root string
	Opts inventory.CollectOptions
	Now  func() time.Time
}

// Collect collects the report now.
func (c LocalCollector) Collect(ctx context.Context) (*inventory.Report, error) {
	o := c.Opts
	o.Now = c.Now().UTC()
	return inventory.Collect(ctx, c.Root, o)
}

// Agent runs the agent loop for one enrolled host.
type Agent struct {
	Client    *Client
	HostID    string
	Collector Collector
	// PM is the package manager; nil is a dry run that prints the commands
	// it would run and sends no results.
	PM PackageManager
	// Boot reboots the host; nil fails reboot actions that need a restart.
	Boot Rebooter
	// Hooks run around reboots; Health are the host's health checks, run
	// after patching and after a reboot until they pass or HealthTimeout
	// (default 1 minute) passes, polling every HealthPoll (default 2 s).
	Hooks         Hooks
	Health        []Check
	HealthTimeout time.Duration
	HealthPoll    time.Duration
	// RebootGrace is how long after the reboot command the agent waits for
	// the boot id to change before it reports the reboot as failed
	// (default 15 minutes). It never runs the command twice for one action.
	RebootGrace time.Duration
	// HeartbeatEvery is the longest interval between heartbeats while a
	// step runs (default 1 minute; the server may ask for less). The
	// server reclaims a step whose heartbeats stop for the ring's
	// strategy.stepTimeout.
	HeartbeatEvery time.Duration
	Spool          Spool
	// Out receives the human-readable account of each run.
	Out io.Writer
	Log *slog.Logger
	Now func() time.Time

	// beats counts the heartbeats the server recorded.
	beats atomic.Int64
}

// Heartbeats returns how many of this agent's heartbeats the server has
// recorded.
func (a *Agent) Heartbeats() int64 { return a.beats.Load() }

// Outcome is what one run did.
type Outcome struct {
	Assignment api.Assignment
	// Results are the results sent (or spooled) for applied actions.
	Results []api.ActionResult
	Skipped int
	// Rebooting is true when the run started a reboot: the reboot's result
	// is reported by the first run after the restart.
	Rebooting bool
	// RolledBack lists what a rollback did ("pkg 2 -> 1", or why not).
	RolledBack []string
}

func (a *Agent) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

func (a *Agent) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (a *Agent) out() io.Writer {
	if a.Out != nil {
		return a.Out
	}
	return io.Discard
}

// Deliver sends every spooled result request, oldest name first, removing
// each once the server acknowledged it.
func (a *Agent) Deliver(ctx context.Context) error {
	pending, err := a.Spool.Pending()
	if err != nil {
		return err
	}
	for _, name := range names(pending) {
		req := pending[name]
		resp, err := a.Client.Results(ctx, a.HostID, req)
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == 400 {
			// The server will never take it (e.g. a malformed result):
			// keep it for inspection, but stop resending it.
			a.log().Error("results refused; set aside as .rejected", "file", name, "err", err)
			if err := a.Spool.Reject(name); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("deliver results: %w", err)
		}
		a.log().Info("results delivered", "recorded", resp.Recorded, "duplicates", resp.Duplicates)
		if err := a.Spool.Done(name); err != nil {
			return err
		}
	}
	return nil
}

// collect collects and pins the report to the enrolled host id.
func (a *Agent) collect(ctx context.Context) (*inventory.Report, error) {
	r, err := a.Collector.Collect(ctx)
	if err != nil {
		return nil, err
	}
	if r.HostID != a.HostID {
		cp := *r
		cp.HostID = a.HostID
		r = &cp
	}
	return r, nil
}

// RunOnce does one pass: deliver spooled results, finish a step an
// earlier run left (a reboot, or a transaction whose results were not
// spooled), collect, report, fetch the assignment and run it as one step
// (see step). It returns ErrActionsFailed when an action failed.
func (a *Agent) RunOnce(ctx context.Context) (Outcome, error) {
	var out Outcome
	if err := a.Deliver(ctx); err != nil {
		return out, err
	}
	if err := a.recoverInflight(ctx, &out); err != nil {
		return out, err
	}
	if err := a.finishReboot(ctx, &out); err != nil {
		return out, err
	}
	rep, err := a.collect(ctx)
	if err != nil {
		return out, err
	}
	ack, full, err := a.Client.Report(ctx, rep)
	if err != nil {
		return out, fmt.Errorf("report: %w", err)
	}
	form := "summary (package set known to the server)"
	if full {
		form = "full report"
	}
	fmt.Fprintf(a.out(), "reported %s: %s, %s, as %s; report %d stored\n", a.HostID, plural.Count(rep.Packages.Len(), "package"), rep.Stream, form, ack.ReportID)
	asg, err := a.Client.Assignment(ctx, a.HostID, api.AssignmentQuery{DryRun: a.PM == nil})
	if err != nil {
		return out, fmt.Errorf("assignment: %w", err)
	}
	out.Assignment = asg
	printAssignment(a.out(), asg)
	if len(asg.Actions) == 0 {
		return out, nil
	}
	if a.PM == nil {
		out.Skipped = len(asg.Actions)
		return out, a.dryRun(rep, asg)
	}
	return a.step(ctx, rep, asg, out)
}

func printAssignment(w io.Writer, a api.Assignment) {
	fmt.Fprintf(w, "assignment for %s: status %s", a.HostID, a.Status)
	if a.Ring != "" {
		fmt.Fprintf(w, ", ring %s, baseline %s", a.Ring, a.Baseline)
	}
	fmt.Fprintf(w, ", %s", plural.Count(len(a.Actions), "action"))
	if a.Hold != "" {
		fmt.Fprintf(w, "; hold: %s", a.Hold)
	}
	fmt.Fprintln(w)
	for _, act := range a.Actions {
		fmt.Fprintf(w, "  %s  (%s)\n", act.Key, act.Reason)
	}
}

// Run calls RunOnce every interval (with ±10% jitter) until ctx ends,
// logging failures; an unreachable server is retried by the client's
// backoff and then on the next tick.
func (a *Agent) Run(ctx context.Context, interval time.Duration) error {
	for {
		o, err := a.RunOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrRebootPending):
			a.log().Info("waiting for the restart", "err", err)
		case err != nil:
			a.log().Error("run failed", "err", err)
		}
		if o.Rebooting {
			a.log().Info("reboot started; the result is reported after the restart")
		}
		d := interval + time.Duration((rand.Float64()*0.2-0.1)*float64(interval))
		if o.Rebooting || errors.Is(err, ErrRebootPending) {
			// The host should be going down; if it is not yet, look again
			// (and heartbeat "rebooting") every minute, not every interval.
			d = min(d, time.Minute)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
	}
}
