package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/patchbay/patchbay/engine/store"
)

// Event kinds.
const (
	SLABreachSoon     = "sla.breach.soon"
	SLABreach         = "sla.breach"
	RolloutHalted     = "rollout.halted"
	RolloutFailed     = "rollout.failed"
	RolloutFinished   = "rollout.finished"
	RingVerified      = "ring.verified"
	ExceptionExpiring = "exception.expiring"
	HostStale         = "host.stale"
)

// Kinds lists every event kind.
var Kinds = []string{SLABreachSoon, SLABreach, RolloutHalted, RolloutFailed, RolloutFinished, RingVerified, ExceptionExpiring, HostStale}

// Event is one thing worth telling. Key identifies it for deduplication:
// the same Key is delivered once per channel, however often it is seen.
type Event struct {
	Key     string         `json:"id"`
	Kind    string         `json:"kind"`
	At      time.Time      `json:"at"`
	Subject string         `json:"subject"`
	Text    string         `json:"text"`
	Data    map[string]any `json:"data,omitempty"`
}

// Channel delivers an event somewhere once (one attempt).
type Channel interface {
	// Name identifies the channel in the delivery log ("webhook:ops").
	Name() string
	// Wants reports whether the channel subscribed to kind.
	Wants(kind string) bool
	Send(ctx context.Context, ev Event) error
}

// subscribed reports whether kinds (a channel's subscription; "*" or
// empty means every kind) contains kind.
func subscribed(kinds []string, kind string) bool {
	return len(kinds) == 0 || slices.Contains(kinds, "*") || slices.Contains(kinds, kind)
}

// Config wires a Notifier. Store is required.
type Config struct {
	Store    *store.Store
	Channels []Channel
	// Attempts is how many times a delivery is tried; 0 means 5.
	Attempts int
	// Backoff is the wait before the second attempt, doubled after each;
	// 0 means 2 s.
	Backoff time.Duration
	Log     *slog.Logger
}

// Notifier delivers events to the channels that want them.
type Notifier struct {
	cfg Config
}

// New returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	if cfg.Store == nil {
		return nil, errors.New("notify: Store is required")
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 5
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 2 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{cfg: cfg}, nil
}

// Notify delivers each event to every channel that wants it and has not
// had it yet, retrying a failed attempt with exponential backoff. It
// returns the deliveries that failed after every attempt (they are logged
// as failed and not tried again).
func (n *Notifier) Notify(ctx context.Context, evs []Event) error {
	var errs []error
	for _, ev := range evs {
		for _, ch := range n.cfg.Channels {
			if !ch.Wants(ev.Kind) {
				continue
			}
			if err := n.deliver(ctx, ch, ev); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (n *Notifier) deliver(ctx context.Context, ch Channel, ev Event) error {
	ok, err := n.cfg.Store.ClaimNotify(ctx, ev.Key, ch.Name(), ev.Kind)
	if err != nil || !ok {
		return err
	}
	wait := n.cfg.Backoff
	var last error
	for attempt := 1; attempt <= n.cfg.Attempts; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		last = ch.Send(actx, ev)
		cancel()
		if last == nil {
			n.cfg.Log.Info("notification delivered", "event", ev.Key, "channel", ch.Name(), "attempts", attempt)
			return n.cfg.Store.FinishNotify(context.WithoutCancel(ctx), ev.Key, ch.Name(), store.NotifyDelivered, attempt, "")
		}
		n.cfg.Log.Warn("notification attempt failed", "event", ev.Key, "channel", ch.Name(), "attempt", attempt, "err", last)
		if attempt == n.cfg.Attempts {
			break
		}
		select {
		case <-ctx.Done():
			// Left pending: the next run claims it again.
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
	if err := n.cfg.Store.FinishNotify(context.WithoutCancel(ctx), ev.Key, ch.Name(), store.NotifyFailed, n.cfg.Attempts, last.Error()); err != nil {
		return err
	}
	return fmt.Errorf("notify %s via %s: gave up after %d attempts: %w", ev.Key, ch.Name(), n.cfg.Attempts, last)
}
