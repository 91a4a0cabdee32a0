package rollout

import "errors"

// ErrNotFound is returned for an unknown rollout id.
var ErrNotFound = errors.New("rollout not found")

// ErrState is returned when an admin transition is not allowed from the
// rollout's current state (e.g. resuming a finished rollout).
var ErrState = errors.New("transition not allowed in this state")

// ErrNotLeader is returned by Step when another replica holds the
// controller lease.
var ErrNotLeader = errors.New("not the controller leader")
