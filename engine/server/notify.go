package server

import (
	"context"
	"time"

	"github.com/patchbay/patchbay/engine/notify"
	"github.com/patchbay/patchbay/engine/plan"
)

// NotifyOnce detects the events that hold now (from the fleet plan, the
// repository's exceptions and the latest rollout records) and delivers
// them through n; events already delivered are not sent again.
func (s *Server) NotifyOnce(ctx context.Context, n *notify.Notifier) error {
	m, err := s.model()
	if err != nil {
		return err
	}
	p, err := s.FleetPlan(ctx, plan.Options{})
	if err != nil {
		return err
	}
	evs, err := s.st.RecentRolloutEvents(ctx, 500)
	if err != nil {
		return err
	}
	in := notify.DetectInput{Plan: p, Repo: m.Repo, Events: evs, Now: s.now().UTC(), BreachLead: 72 * time.Hour, ExceptionLead: 14 * 24 * time.Hour}
	if c := m.Repo.Config.Notify; c != nil {
		in.BreachLead, in.ExceptionLead = time.Duration(c.BreachLead), time.Duration(c.ExceptionLead)
	}
	return n.Notify(ctx, notify.Detect(in))
}

// RunNotify calls NotifyOnce every interval until ctx ends.
func (s *Server) RunNotify(ctx context.Context, n *notify.Notifier, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.NotifyOnce(ctx, n); err != nil && ctx.Err() == nil {
			s.log.Warn("notifications", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
