package server

import (
	"errors"
	"fmt"
)

// ErrNoModel is returned while no valid patch repository has been loaded:
// the server cannot plan. HTTP: 503 unavailable.
var ErrNoModel = errors.New("no valid patch repository loaded")

// ErrNeedPackages is returned for a report summary naming a package set the
// server does not hold. HTTP: 409 need_packages.
var ErrNeedPackages = errors.New("package set unknown: send the full report")

// httpError is an error with its HTTP status and stable code; its message
// is safe to show the client.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, code, format string, args ...any) error {
	return &httpError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}
