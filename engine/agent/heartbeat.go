package agent

import (
	"context"
	"sync"
	"time"

	"github.com/patchbay/patchbay/engine/api"
)

// DefaultHeartbeatEvery is the longest interval between two heartbeats
// while the agent works on a step; the server may ask for a shorter one
// (Assignment.HeartbeatSeconds).
const DefaultHeartbeatEvery = time.Minute

// heartbeatEvery is the interval for a step whose assignment asked for
// hintSeconds: the shorter of the agent's HeartbeatEvery (default 1 min)
// and the server's hint.
func (a *Agent) heartbeatEvery(hintSeconds int) time.Duration {
	d := a.HeartbeatEvery
	if d <= 0 {
		d = DefaultHeartbeatEvery
	}
	if hint := time.Duration(hintSeconds) * time.Second; hint > 0 && hint < d {
		d = hint
	}
	return d
}

// beat sends heartbeats for one step of a rollout: one at once, one at
// every phase change and one every interval, until end. A nil beat (no
// rollout: the server runs no controller) does nothing.
type beat struct {
	a       *Agent
	rollout string
	every   time.Duration

	mu    sync.Mutex
	phase string
	// refused is the server's last reason for not recording (logged once).
	refused string

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

// startBeat starts heartbeats for rollout in phase; nil when rollout is
// empty.
func (a *Agent) startBeat(ctx context.Context, rollout string, hintSeconds int, phase string) *beat {
	if rollout == "" || a.Client == nil {
		return nil
	}
	b := &beat{a: a, rollout: rollout, every: a.heartbeatEvery(hintSeconds), phase: phase,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	b.send(ctx)
	go b.loop(context.WithoutCancel(ctx))
	return b
}

func (b *beat) loop(ctx context.Context) {
	defer close(b.done)
	t := time.NewTicker(b.every)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		case <-b.kick:
		}
		b.send(ctx)
	}
}

// send sends one heartbeat with the current phase.
func (b *beat) send(ctx context.Context) {
	b.mu.Lock()
	phase := b.phase
	b.mu.Unlock()
	ack, err := b.a.Client.Heartbeat(ctx, b.a.HostID, api.Heartbeat{RolloutID: b.rollout, Phase: phase})
	if err != nil {
		b.a.log().Warn("heartbeat not delivered; the next one follows", "phase", phase, "err", err)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !ack.Recorded && ack.Reason != b.refused {
		b.a.log().Warn("heartbeat not recorded", "rollout", b.rollout, "reason", ack.Reason)
	}
	b.refused = ack.Reason
	if ack.Recorded {
		b.refused = ""
		b.a.beats.Add(1)
	}
}

// set changes the phase and sends a heartbeat soon.
func (b *beat) set(phase string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.phase = phase
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// now changes the phase and sends a heartbeat before it returns (before a
// reboot, which may end the process).
func (b *beat) now(ctx context.Context, phase string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.phase = phase
	b.mu.Unlock()
	b.send(ctx)
}

// end stops the heartbeats.
func (b *beat) end() {
	if b == nil {
		return
	}
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	<-b.done
}
