package history

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
)

// DefaultRetention is how long history is kept when Config.Retention is
// zero: 400 days, so that a year-on-year comparison has its data.
const DefaultRetention = 400 * 24 * time.Hour

// DefaultEvery is how often Run recomputes today's roll-ups when
// Config.Every is zero.
const DefaultEvery = 15 * time.Minute

// Config wires a Recorder. Store is required.
type Config struct {
	Store *store.Store
	// Retention is how long state changes and roll-ups are kept; zero
	// means DefaultRetention.
	Retention time.Duration
	// Every is how often Run rolls up; zero means DefaultEvery.
	Every time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// Recorder writes history: host states as plans are recomputed, and the
// day's roll-ups from the fleet plan.
type Recorder struct {
	cfg       Config
	lastPrune time.Time

	mu      sync.Mutex
	summary *Summary // this cycle's, as of the last roll-up
}

// New returns a Recorder.
func New(cfg Config) (*Recorder, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("history: Store is required")
	}
	if cfg.Retention < 0 || cfg.Every < 0 {
		return nil, fmt.Errorf("history: negative retention or interval")
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Every == 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{cfg: cfg}, nil
}

// Store returns the store the recorder writes to.
func (r *Recorder) Store() *store.Store { return r.cfg.Store }

// Record appends the changed states of a batch of hosts.
func (r *Recorder) Record(ctx context.Context, batch []store.HostStates) (int, error) {
	return r.cfg.Store.RecordStates(ctx, batch)
}

// Rollup writes today's roll-ups from a fleet plan, recomputes the
// cycle's SLA attainment from the store's counters and, once a day,
// prunes history older than the retention.
func (r *Recorder) Rollup(ctx context.Context, p *plan.Plan, rings []string) error {
	now := r.cfg.Now().UTC()
	if err := r.cfg.Store.PutRollups(ctx, Rollups(p, rings, now)); err != nil {
		return err
	}
	from, to := Cycle(now)
	sum, err := SummarizeCounters(ctx, r.cfg.Store, from, to, now)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.summary = sum
	r.mu.Unlock()
	if now.Sub(r.lastPrune) >= 24*time.Hour {
		n, err := r.cfg.Store.PruneHistory(ctx, now.Add(-r.cfg.Retention))
		if err != nil {
			return err
		}
		r.lastPrune = now
		if n > 0 {
			r.cfg.Log.Info("history pruned", "rows", n, "retention", r.cfg.Retention)
		}
	}
	return nil
}

// Summary returns this cycle's SLA attainment (and the previous cycle's)
// as computed by the last Rollup from the store's counters; nil before the
// first.
func (r *Recorder) Summary() *Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.summary
}

// FleetSource computes the current fleet plan and names the rings in
// promotion order; the server is one.
type FleetSource func(ctx context.Context) (*plan.Plan, []string, error)

// Run rolls up every Config.Every until ctx ends (once at the start).
// Errors are logged, not returned: a missed roll-up is made up by the next.
func (r *Recorder) Run(ctx context.Context, src FleetSource) {
	t := time.NewTicker(r.cfg.Every)
	defer t.Stop()
	for {
		p, rings, err := src(ctx)
		if err == nil {
			err = r.Rollup(ctx, p, rings)
		}
		if err != nil && ctx.Err() == nil {
			r.cfg.Log.Warn("history roll-up", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Cycle returns the calendar month (UTC) that holds t: the SLA cycle.
func Cycle(t time.Time) (from, to time.Time) {
	t = t.UTC()
	from = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return from, from.AddDate(0, 1, 0)
}

// ParsePeriod parses a cycle written YYYY-MM.
func ParsePeriod(s string) (from, to time.Time, err error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("period %q: want YYYY-MM (for example 2026-11)", s)
	}
	from, to = Cycle(t)
	return from, to, nil
}
