package server

import (
	"context"
	"time"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
)

// Assigner decides what a host must do now. The default, PlanAssigner,
// assigns every action of the host's plan; a rollout controller replaces it
// to release actions by waves and windows. Action ids must stay
// api.ActionID(host, baseline digest, api.ActionKey(...)) so that results
// bind to them. q says how the agent asked (a dry run).
type Assigner interface {
	Assignment(ctx context.Context, host store.Host, q api.AssignmentQuery) (api.Assignment, error)
}

// HeartbeatRecorder is implemented by an Assigner that tracks host steps
// (the rollout controller): it records an agent's heartbeat.
type HeartbeatRecorder interface {
	Heartbeat(ctx context.Context, host store.Host, hb api.Heartbeat) (api.HeartbeatAck, error)
}

// HostPlanner computes one host's current plan; *Server is one. The
// returned host is nil when the host has not reported yet.
type HostPlanner interface {
	HostPlan(ctx context.Context, host store.Host) (*plan.Host, error)
}

// PlanAssigner assigns everything the host's current plan asks for.
type PlanAssigner struct {
	Plans HostPlanner
	Now   func() time.Time
}

// StatusNoReport is the assignment status of a host that has not reported.
const StatusNoReport = "NO_REPORT"

// Assignment returns the host's plan actions with their idempotency keys.
// There are no waves to keep a dry-run host out of: q.DryRun is only
// echoed.
func (a PlanAssigner) Assignment(ctx context.Context, host store.Host, q api.AssignmentQuery) (api.Assignment, error) {
	out := api.Assignment{HostID: host.ID, Status: StatusNoReport, GeneratedAt: a.Now().UTC(), Actions: []api.Action{}, DryRun: q.DryRun}
	ph, err := a.Plans.HostPlan(ctx, host)
	if err != nil || ph == nil {
		return out, err
	}
	out = AssignmentFromPlan(host.ID, ph, out.GeneratedAt)
	out.DryRun = q.DryRun
	return out, nil
}

// AssignmentFromPlan converts a host's plan into an assignment of all its
// actions.
func AssignmentFromPlan(hostID string, ph *plan.Host, now time.Time) api.Assignment {
	out := api.Assignment{HostID: hostID, Status: string(ph.Status), Ring: ph.Ring, Baseline: ph.Baseline,
		BaselineDigest: ph.BaselineDigest, PackageSetHash: ph.PackageSet, GeneratedAt: now, Actions: make([]api.Action, 0, len(ph.Actions))}
	for _, a := range ph.Actions {
		out.Actions = append(out.Actions, ConvertAction(hostID, ph.BaselineDigest, a))
	}
	return out
}

// ConvertAction turns a plan action into a wire action with its key and id.
func ConvertAction(hostID, digest string, a plan.Action) api.Action {
	key := api.ActionKey(string(a.Kind), a.Package, a.Version, a.Min, a.MinSource, a.Avoid)
	rules := a.Rules
	if rules == nil {
		rules = []string{}
	}
	return api.Action{ID: api.ActionID(hostID, digest, key), Kind: string(a.Kind), Key: key, Package: a.Package,
		Version: a.Version, Min: a.Min, MinSource: a.MinSource, Avoid: a.Avoid, Rules: rules, Reason: a.Reason}
}
