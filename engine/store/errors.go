package store

import "errors"

// ErrNotFound is returned when the requested row (host, package set, plan,
// rollout, step, token name) does not exist. HTTP: 404.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a write collides with existing state: a host
// id or token already taken, a rollout state that changed underneath a
// compare-and-set. HTTP: 409.
var ErrConflict = errors.New("conflict")

// ErrTokenInvalid is returned when a presented token (enrollment, admin or
// host) is unknown, expired or used up. The wrapping message says which, the
// sentinel deliberately does not, so handlers answer 401 without leaking why.
var ErrTokenInvalid = errors.New("token invalid")

// ErrInvalid is returned for arguments the store refuses before touching the
// database: an empty id, a negative limit, an unsupported URL. HTTP: 400 (or a
// startup error for Open).
var ErrInvalid = errors.New("invalid argument")

// ErrPackageSetMissing is returned by SaveReport when the record names a
// package-set hash that is not stored and carries no set bytes: the agent
// must resend the full set. It wraps ErrNotFound.
var ErrPackageSetMissing = errNotFoundWrap("package set not stored")

// ErrLeaseLost is returned by fenced writes when the caller no longer holds
// the lease with the fencing token it presented (it expired, or another
// replica took it): the caller must stop acting as leader. HTTP: 409.
var ErrLeaseLost = errors.New("lease lost")

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("store closed")

type notFoundError struct{ msg string }

func errNotFoundWrap(msg string) error { return &notFoundError{msg: msg} }
func (e *notFoundError) Error() string { return e.msg }
func (e *notFoundError) Unwrap() error { return ErrNotFound }
