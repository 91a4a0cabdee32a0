// Package vercmp orders package versions exactly as the distributions' own
// tools do: dpkg for deb, rpm for rpm, apk-tools 3 for apk. It owns version
// ordering and version syntax, nothing else.
//
// Compare is pure and allocation-free: it works on the strings it is given,
// never copies them and keeps no state between calls, so it is safe for
// concurrent use and cheap enough to sit in the inner loop of a fleet-wide
// plan. Validate tells whether the ecosystem's own tool accepts a version;
// Compare still orders versions that Validate rejects, deterministically, so
// that sorting arbitrary input never panics or loops.
//
// The package imports nothing of patchbay and only the standard library; it
// must stay a leaf (inventory, baseline and plan import it, never the reverse).
package vercmp

import "strings"

// Ecosystem names a package version ordering.
type Ecosystem string

// The ecosystems patchbay knows.
const (
	Deb Ecosystem = "deb"
	RPM Ecosystem = "rpm"
	APK Ecosystem = "apk"
)

// Ecosystems returns the known ecosystems in a stable order.
func Ecosystems() []Ecosystem { return []Ecosystem{Deb, RPM, APK} }

// ParseEcosystem returns the ecosystem named s ("deb", "rpm" or "apk", as
// written) or an error wrapping ErrUnknownEcosystem.
func ParseEcosystem(s string) (Ecosystem, error) {
	switch e := Ecosystem(s); e {
	case Deb, RPM, APK:
		return e, nil
	}
	return "", &ecosystemError{name: s}
}

// Compare returns -1, 0 or 1 as a orders before, the same as, or after b in
// the ecosystem's ordering: CompareDeb, CompareRPM or CompareAPK. It never
// allocates and never panics. For an unknown ecosystem it falls back to
// byte-wise string order (strings.Compare), which is deterministic but means
// nothing; callers get a checked Ecosystem from ParseEcosystem first.
func Compare(eco Ecosystem, a, b string) int {
	switch eco {
	case Deb:
		return CompareDeb(a, b)
	case RPM:
		return CompareRPM(a, b)
	case APK:
		return CompareAPK(a, b)
	}
	return strings.Compare(a, b)
}

// Validate reports whether v is a well-formed version in the ecosystem: nil,
// a *SyntaxError (which wraps ErrInvalidVersion) naming the reason, or an
// error wrapping ErrUnknownEcosystem.
func Validate(eco Ecosystem, v string) error {
	switch eco {
	case Deb:
		return ValidateDeb(v)
	case RPM:
		return ValidateRPM(v)
	case APK:
		return ValidateAPK(v)
	}
	return &ecosystemError{name: string(eco)}
}

// sign maps an int onto -1, 0 or 1.
func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlpha(c byte) bool { c |= 0x20; return c >= 'a' && c <= 'z' }

// lastByte is strings.LastIndexByte for versions, which rarely hold c more
// than once: two vectorised forward searches beat a byte loop from the end.
func lastByte(s string, c byte) int {
	i := strings.IndexByte(s, c)
	if i < 0 {
		return -1
	}
	for {
		j := strings.IndexByte(s[i+1:], c)
		if j < 0 {
			return i
		}
		i += 1 + j
	}
}
