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

// ErrRepoLeased is returned by Step when the controller holds its store's
// lease but another controller — one on a different database, pointed at
// the same patch repository — holds the repository lease
// (gitrepo.LeaseRef on Options.Remote): this one runs no rollouts then.
var ErrRepoLeased = errors.New("the patch repository is leased by another patchbay controller")

// ErrNoReason is returned by an operator action (pause, resume, abort,
// approve) without a reason: every operator action is evidence, and its
// record must say why.
var ErrNoReason = errors.New("a reason is required")
