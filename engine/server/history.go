package server

import (
	"context"

	"github.com/patchbay/patchbay/engine/plan"
)

// RunHistory writes today's roll-ups to Config.History at its interval
// (and once at the start) until ctx ends; it returns at once without a
// History.
func (s *Server) RunHistory(ctx context.Context) {
	if s.cfg.History == nil {
		return
	}
	s.cfg.History.Run(ctx, s.fleetForHistory)
}

// RollupHistory writes today's roll-ups once (for tests and the demo).
func (s *Server) RollupHistory(ctx context.Context) error {
	if s.cfg.History == nil {
		return nil
	}
	p, rings, err := s.fleetForHistory(ctx)
	if err != nil {
		return err
	}
	return s.cfg.History.Rollup(ctx, p, rings)
}

func (s *Server) fleetForHistory(ctx context.Context) (*plan.Plan, []string, error) {
	m, err := s.model()
	if err != nil {
		return nil, nil, err
	}
	p, err := s.FleetPlan(ctx, plan.Options{})
	if err != nil {
		return nil, nil, err
	}
	rings := make([]string, 0, len(m.Repo.Rings))
	for _, r := range m.Repo.Rings {
		rings = append(rings, r.Name)
	}
	return p, rings, nil
}
