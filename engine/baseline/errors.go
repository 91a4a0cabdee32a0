package baseline

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrInvalid is wrapped by Errors: the repository failed validation.
var ErrInvalid = errors.New("invalid patch repository")

// ErrTooLarge is returned when a file or the repository exceeds the limits.
var ErrTooLarge = errors.New("patch repository too large")

// Error is one validation problem in a user file.
type Error struct {
	// File is the path relative to the repository root; empty when the
	// problem is not tied to one file.
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	// Path is the data path, e.g. rings.canary.reboot.
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// String formats the error as file:line:col: path: message.
func (e Error) String() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Errors is every problem found in a repository, sorted by file and position.
// It wraps ErrInvalid.
type Errors []Error

// Error joins all problems, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (es Errors) Unwrap() error { return ErrInvalid }

// sortErrors orders errors by file, line, column, path and message and drops
// exact duplicates.
func sortErrors(es []Error) Errors {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		switch {
		case a.File != b.File:
			// Errors without a file come last.
			if a.File == "" || b.File == "" {
				return b.File == ""
			}
			return a.File < b.File
		case a.Line != b.Line:
			return a.Line < b.Line
		case a.Column != b.Column:
			return a.Column < b.Column
		case a.Path != b.Path:
			return a.Path < b.Path
		}
		return a.Message < b.Message
	})
	out := es[:0]
	for i, e := range es {
		if i > 0 && e == es[i-1] {
			continue
		}
		out = append(out, e)
	}
	return Errors(out)
}
