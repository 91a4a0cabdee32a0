package api

import "time"

// Rollout is a rollout as the admin API shows it (GET /api/v1/rollouts and
// /api/v1/rollouts/{id}).
type Rollout struct {
	ID             string    `json:"id"`
	Ring           string    `json:"ring"`
	Commit         string    `json:"commit"`
	BaselineID     string    `json:"baselineId"`
	BaselineDigest string    `json:"baselineDigest"`
	State          string    `json:"state"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
	// PR is the merged pull request's number, 0 when unknown.
	PR int `json:"pr,omitempty"`
	// Wave is the current wave (0 before the first).
	Wave int `json:"wave"`
	// RingHosts is the ring's size; Hosts counts the rollout's hosts (the
	// ring's non-compliant hosts when it started) by state.
	RingHosts int           `json:"ringHosts"`
	Hosts     RolloutCounts `json:"hosts"`
	// MaxConcurrency and MaxErrors are the ring's budgets in hosts.
	MaxConcurrency int `json:"maxConcurrency"`
	MaxErrors      int `json:"maxErrors"`
	// Hold says why no new wave starts now (window, freeze, halt), if so.
	Hold string `json:"hold,omitempty"`
	// ETA estimates when the last wave ends, from the waves so far.
	ETA *time.Time `json:"eta,omitempty"`
	// Waves are present in the single-rollout view.
	Waves []RolloutWave `json:"waves,omitempty"`
	// Events are the rollout's transitions, in the single-rollout view.
	Events []RolloutEvent `json:"events,omitempty"`
}

// RolloutCounts counts a rollout's hosts by state.
type RolloutCounts struct {
	Total     int `json:"total"`
	Pending   int `json:"pending"`
	Running   int `json:"running"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	TimedOut  int `json:"timedOut"`
	Cancelled int `json:"cancelled"`
	// Skipped are hosts whose agent ran in dry-run mode until the rollout
	// ended: they never took a wave slot and changed nothing.
	Skipped int `json:"skipped"`
}

// RolloutWave is one wave of a rollout.
type RolloutWave struct {
	Wave      int           `json:"wave"`
	Hosts     RolloutCounts `json:"hosts"`
	StartedAt time.Time     `json:"startedAt"`
	EndedAt   *time.Time    `json:"endedAt,omitempty"`
}

// RolloutEvent is one transition of a rollout: its audit record kind, who
// caused it, when, and whether it is in the audit trail yet.
type RolloutEvent struct {
	Kind    string    `json:"kind"`
	Actor   string    `json:"actor"`
	At      time.Time `json:"at"`
	Audited bool      `json:"audited"`
	Detail  string    `json:"detail,omitempty"`
}

// RolloutList is the body of GET /api/v1/rollouts.
type RolloutList struct {
	Rollouts []Rollout `json:"rollouts"`
	// Invalid lists main-branch commits that failed validation and started
	// nothing: commit → first error.
	Invalid map[string]string `json:"invalid,omitempty"`
}

// RolloutAction is the body of POST /api/v1/rollouts/{id}/{pause,resume,abort,approve}:
// the reason, required (400 when blank), recorded with the transition and
// the admin token's name.
type RolloutAction struct {
	Reason string `json:"reason,omitempty"`
}
