package vercmp

import (
	"errors"
	"fmt"
)

// ErrUnknownEcosystem is returned for an ecosystem other than deb, rpm or apk.
var ErrUnknownEcosystem = errors.New("unknown ecosystem")

// ErrInvalidVersion is wrapped by every *SyntaxError: the version is not one
// the ecosystem's own tool accepts.
var ErrInvalidVersion = errors.New("invalid version")

// SyntaxError says why a version is invalid in an ecosystem. errors.Is(err,
// ErrInvalidVersion) holds for it.
type SyntaxError struct {
	// Ecosystem is the ordering the version was checked against.
	Ecosystem Ecosystem
	// Version is the version as given.
	Version string
	// Reason is the tool's own wording where it has one, e.g. dpkg's
	// "epoch in version is not number".
	Reason string
	// Warning is true when the tool rejects the version as bad syntax but
	// still orders it (dpkg's warning level: "version number does not start
	// with digit", invalid characters). dpkg --validate-version refuses such
	// versions and dpkg --compare-versions compares them with a warning.
	Warning bool
}

// Error implements error.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid %s version %q: %s", e.Ecosystem, e.Version, e.Reason)
}

// Unwrap returns ErrInvalidVersion.
func (e *SyntaxError) Unwrap() error { return ErrInvalidVersion }

// ecosystemError names the unknown ecosystem; it wraps ErrUnknownEcosystem.
type ecosystemError struct{ name string }

func (e *ecosystemError) Error() string {
	return fmt.Sprintf("%s %q (want deb, rpm or apk)", ErrUnknownEcosystem, e.name)
}

func (e *ecosystemError) Unwrap() error { return ErrUnknownEcosystem }
