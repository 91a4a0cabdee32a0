package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
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
	// Executor applies actions; nil prints them (a dry run).
	Executor Executor
	Spool    Spool
	// Out receives the human-readable account of each run.
	Out io.Writer
	Log *slog.Logger
	Now func() time.Time
}

// Outcome is what one run did.
type Outcome struct {
	Assignment api.Assignment
	// Results are the results sent (or spooled) for applied actions.
	Results []api.ActionResult
	Skipped int
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

// RunOnce does one pass: deliver spooled results, collect, report, fetch
// the assignment, apply it, re-collect, report the post-state and send the
// results. It returns ErrActionsFailed when a post-state does not satisfy
// its action.
func (a *Agent) RunOnce(ctx context.Context) (Outcome, error) {
	var out Outcome
	if err := a.Deliver(ctx); err != nil {
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
	asg, err := a.Client.Assignment(ctx, a.HostID)
	if err != nil {
		return out, fmt.Errorf("assignment: %w", err)
	}
	out.Assignment = asg
	printAssignment(a.out(), asg)
	if len(asg.Actions) == 0 {
		return out, nil
	}
	exec := a.Executor
	if exec == nil {
		build, err := CommandFor(rep.Ecosystem)
		if err != nil {
			return out, err
		}
		exec = CommandExecutor{Build: build, DryRun: true, Out: a.out()}
	}
	type applied struct {
		act    api.Action
		start  time.Time
		end    time.Time
		detail string
	}
	var done []applied
	for _, act := range asg.Actions {
		start := a.now()
		detail, err := exec.Apply(ctx, act)
		if errors.Is(err, ErrSkipped) {
			out.Skipped++
			a.log().Info("action skipped", "action", act.Key, "detail", detail)
			continue
		}
		if err != nil {
			detail = strings.TrimSpace(detail + "\n" + err.Error())
		}
		done = append(done, applied{act, start, a.now(), detail})
	}
	if len(done) == 0 {
		return out, nil
	}
	post, err := a.collect(ctx)
	if err != nil {
		return out, fmt.Errorf("collect post-state: %w", err)
	}
	pack, _, err := a.Client.Report(ctx, post)
	if err != nil {
		return out, fmt.Errorf("report post-state: %w", err)
	}
	req := api.ResultsRequest{PostStateHash: post.Packages.Hash(), PostStateReportID: pack.ReportID}
	failed := 0
	for _, d := range done {
		ok, why := Satisfied(post, d.act)
		res := api.ActionResult{ActionID: d.act.ID, BaselineDigest: asg.BaselineDigest, Key: d.act.Key,
			Outcome: api.OutcomeSucceeded, Detail: why, StartedAt: d.start, FinishedAt: d.end}
		if !ok {
			res.Outcome = api.OutcomeFailed
			res.Detail = why + "\n" + d.detail
			failed++
		}
		if len(res.Detail) > 8000 {
			res.Detail = res.Detail[:8000]
		}
		fmt.Fprintf(a.out(), "%s %s: %s\n", res.Outcome, d.act.Key, why)
		req.Results = append(req.Results, res)
	}
	out.Results = req.Results
	if _, err := a.Spool.Put(req); err != nil {
		return out, err
	}
	if err := a.Deliver(ctx); err != nil {
		return out, err
	}
	if failed > 0 {
		return out, fmt.Errorf("%w: %d of %d", ErrActionsFailed, failed, len(done))
	}
	return out, nil
}

func printAssignment(w io.Writer, a api.Assignment) {
	fmt.Fprintf(w, "assignment for %s: status %s", a.HostID, a.Status)
	if a.Ring != "" {
		fmt.Fprintf(w, ", ring %s, baseline %s", a.Ring, a.Baseline)
	}
	fmt.Fprintf(w, ", %s\n", plural.Count(len(a.Actions), "action"))
	for _, act := range a.Actions {
		fmt.Fprintf(w, "  %s  (%s)\n", act.Key, act.Reason)
	}
}

// Run calls RunOnce every interval (with ±10% jitter) until ctx ends,
// logging failures; an unreachable server is retried by the client's
// backoff and then on the next tick.
func (a *Agent) Run(ctx context.Context, interval time.Duration) error {
	for {
		if _, err := a.RunOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			a.log().Error("run failed", "err", err)
		}
		d := interval + time.Duration((rand.Float64()*0.2-0.1)*float64(interval))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
	}
}
