// Package vercmp orders package versions exactly as the distributions' own
// tools do: dpkg for deb, rpm for rpm, apk-tools 3 for apk. It is pure and
// allocation-free, and imports nothing of patchbay.
package vercmp

import "errors"

// Ecosystem names a package version ordering.
type Ecosystem string

// The ecosystems patchbay knows.
const (
	Deb Ecosystem = "deb"
	RPM Ecosystem = "rpm"
	APK Ecosystem = "apk"
)

// ErrUnknownEcosystem is returned for an ecosystem other than deb, rpm or apk.
var ErrUnknownEcosystem = errors.New("unknown ecosystem")

// Compare returns -1, 0 or 1 as a orders before, the same as, or after b in
// the ecosystem's ordering.
//
// TODO(vercmp): the implementation lands with the version-ordering issue.
func Compare(eco Ecosystem, a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Validate reports whether v is a well-formed version in the ecosystem.
func Validate(eco Ecosystem, v string) error {
	if v == "" {
		return errors.New("empty version")
	}
	return nil
}
