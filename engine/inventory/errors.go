package inventory

import "errors"

// Sentinel errors. Errors returned by this package wrap one of them, so
// callers choose a reaction with errors.Is.
var (
	// ErrTooLarge means a report exceeds the byte limit (16 MiB by default).
	ErrTooLarge = errors.New("report too large")
	// ErrTooManyPackages means a report lists more packages than the limit
	// (100,000 by default).
	ErrTooManyPackages = errors.New("too many packages")
	// ErrSyntax means a report is not well-formed JSON, or a package
	// database file is malformed. The error names the line.
	ErrSyntax = errors.New("syntax error")
	// ErrInvalid means a well-formed report breaks a rule: a missing or
	// unknown field, a bad value. The error names the field path.
	ErrInvalid = errors.New("invalid report")
	// ErrUnknownOS means os-release names a distribution patchbay cannot map
	// to a stream and ecosystem.
	ErrUnknownOS = errors.New("unknown operating system")
	// ErrNoPackageDB means no package database was found under the root.
	ErrNoPackageDB = errors.New("no package database")
)

// FieldError is a rule broken at one field path of a report, such as
// "packages[12].version: empty". It wraps ErrInvalid.
type FieldError struct {
	// Path is the field path, e.g. "labels.team" or "packages[3].arch".
	Path string
	// Msg says what is wrong.
	Msg string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// LineError is a malformed line in a report stream or a package database
// file. It names the line number (1-based) and the offending text, and wraps
// the cause (ErrSyntax, or a *FieldError for a JSON-lines report).
type LineError struct {
	// File is the file name, when known.
	File string
	// Line is the 1-based line number.
	Line int
	// Text is the offending line, shortened to 120 bytes.
	Text string
	// Err is the cause.
	Err error
}

func (e *LineError) Error() string {
	s := ""
	if e.File != "" {
		s = e.File + ":"
	}
	s += itoa(e.Line) + ": " + e.Err.Error()
	if e.Text != "" {
		s += ": " + quoteShort(e.Text)
	}
	return s
}

// Unwrap returns the cause.
func (e *LineError) Unwrap() error { return e.Err }
