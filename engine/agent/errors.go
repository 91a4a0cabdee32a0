package agent

import (
	"errors"
	"fmt"
)

// ErrNotEnrolled is returned when no credentials are stored.
var ErrNotEnrolled = errors.New("not enrolled: run patchbay-agent enroll first")

// ErrUnreachable is returned when the server could not be reached (or
// answered 5xx/429) after every retry.
var ErrUnreachable = errors.New("server unreachable")

// ErrActionsFailed is returned by RunOnce when at least one action's
// post-state does not satisfy it.
var ErrActionsFailed = errors.New("actions failed")

// APIError is an error answer of the server.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("server: %d %s: %s", e.Status, e.Code, e.Message)
}

// Retryable reports whether the request may succeed later: rate limits,
// server errors and unavailability.
func (e *APIError) Retryable() bool {
	return e.Status == 429 || e.Status >= 500
}

// ErrRefresh is returned when the package indexes could not be refreshed
// (a repository is unreachable, or the refresh timed out).
var ErrRefresh = errors.New("refresh package indexes")

// ErrRebootPending is returned by RunOnce while the agent waits for the
// restart it started: nothing else runs until the boot id changes.
var ErrRebootPending = errors.New("reboot pending")
