package gitrepo

import "errors"

// Sentinel errors returned by this package. Callers test them with errors.Is.
var (
	// ErrNotFound means a revision, path or note does not exist.
	ErrNotFound = errors.New("not found")
	// ErrStop is returned by a FirstParent callback to end the walk early;
	// FirstParent then returns nil.
	ErrStop = errors.New("stop walk")
	// ErrConflict means a compare-and-swap of a ref lost against a
	// concurrent writer; the caller may re-read and retry.
	ErrConflict = errors.New("ref changed concurrently")
	// ErrRejected means the remote refused a push because it is not a fast
	// forward; fetch, merge and retry.
	ErrRejected = errors.New("push rejected: not a fast forward")
	// ErrNoMergeBase means two commits share no history.
	ErrNoMergeBase = errors.New("no merge base")
)
