package vercmp

import "strings"

// RPM versions: [epoch:]version[-release], ordered as rpm 4.18's
// rpm.vercmp: rpmverParse + rpmverCmp (lib/rpmver.c) over rpmvercmp
// (rpmio/rpmvercmp.c).

// rpmAllowed holds the non-alphanumeric characters rpmbuild accepts in a
// Version or Release (build/parsePreamble.c, ALLOWED_CHARS_VERREL).
const rpmAllowed = "._+%{}~^"

// CompareRPM returns -1, 0 or 1 as a orders before, the same as, or after b
// in rpm's ordering, exactly as rpm.vercmp(a, b) in rpm's Lua: the epoch
// (missing = 0) first, then the version, then the release, where a missing
// release sorts before any release ("1.0" < "1.0-0"), as rpmverCmp's
// compare_values does. Segments are runs of digits
// (compared as numbers) or of ASCII letters (compared as bytes); every other
// byte separates segments; '~' sorts before everything, even the end of the
// string, and '^' sorts after the end but before any further segment.
//
// Versions rpm would refuse (ValidateRPM) are still ordered by the same
// rules, as rpm's own comparison does. It never allocates.
func CompareRPM(a, b string) int {
	if a == b {
		return 0
	}
	ea, va, ra, hasRA := splitRPM(a)
	eb, vb, rb, hasRB := splitRPM(b)
	if c := rpmvercmp(ea, eb); c != 0 {
		return c
	}
	if c := rpmvercmp(va, vb); c != 0 {
		return c
	}
	switch {
	case hasRA && hasRB:
		return rpmvercmp(ra, rb)
	case hasRA:
		return 1
	case hasRB:
		return -1
	}
	return 0
}

// splitRPM is rpm's parseEVR: the epoch is a leading run of digits ended by
// ':' (empty means "0"); the release follows the last '-' after it.
func splitRPM(evr string) (epoch, version, release string, hasRelease bool) {
	evr = cutNUL(evr)
	s := 0
	for s < len(evr) && isDigit(evr[s]) {
		s++
	}
	epoch, version = "0", evr
	if s < len(evr) && evr[s] == ':' {
		if s > 0 {
			epoch = evr[:s]
		}
		version = evr[s+1:]
	}
	if i := strings.LastIndexByte(version, '-'); i >= 0 {
		return epoch, version[:i], version[i+1:], true
	}
	return epoch, version, "", false
}

func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

// rpmvercmp is rpm's segment-wise comparison of two version strings.
func rpmvercmp(a, b string) int {
	if a == b {
		return 0
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for i < len(a) && !isAlnum(a[i]) && a[i] != '~' && a[i] != '^' {
			i++
		}
		for j < len(b) && !isAlnum(b[j]) && b[j] != '~' && b[j] != '^' {
			j++
		}
		ca, cb := byte(0), byte(0)
		if i < len(a) {
			ca = a[i]
		}
		if j < len(b) {
			cb = b[j]
		}
		// '~' sorts before everything else.
		if ca == '~' || cb == '~' {
			if ca != '~' {
				return 1
			}
			if cb != '~' {
				return -1
			}
			i++
			j++
			continue
		}
		// '^' sorts after the end of the string, before anything else.
		if ca == '^' || cb == '^' {
			if ca == 0 {
				return -1
			}
			if cb == 0 {
				return 1
			}
			if ca != '^' {
				return 1
			}
			if cb != '^' {
				return -1
			}
			i++
			j++
			continue
		}
		if ca == 0 || cb == 0 {
			break
		}
		si, sj := i, j
		isNum := isDigit(ca)
		if isNum {
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
		} else {
			for i < len(a) && isAlpha(a[i]) {
				i++
			}
			for j < len(b) && isAlpha(b[j]) {
				j++
			}
		}
		// Segments of different types: numeric is newer than alpha.
		if j == sj {
			if isNum {
				return 1
			}
			return -1
		}
		sa, sb := a[si:i], b[sj:j]
		if isNum {
			sa = strings.TrimLeft(sa, "0")
			sb = strings.TrimLeft(sb, "0")
			if len(sa) != len(sb) {
				if len(sa) > len(sb) {
					return 1
				}
				return -1
			}
		}
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
	}
	switch {
	case i >= len(a) && j >= len(b):
		return 0
	case i >= len(a):
		return -1
	}
	return 1
}

// ValidateRPM reports whether v is a well-formed [epoch:]version[-release]:
// the epoch, when present, is decimal digits; version and release are
// non-empty and use only what rpmbuild accepts there (ASCII letters and
// digits and "._+%{}~^", no ".."). It returns nil or a *SyntaxError.
func ValidateRPM(v string) error {
	bad := func(reason string) error {
		return &SyntaxError{Ecosystem: RPM, Version: v, Reason: reason}
	}
	if v == "" {
		return bad("version is empty")
	}
	rest := v
	if i := strings.IndexByte(v, ':'); i >= 0 {
		epoch := v[:i]
		if epoch == "" {
			return bad("epoch is empty")
		}
		for k := 0; k < len(epoch); k++ {
			if !isDigit(epoch[k]) {
				return bad("epoch is not a number")
			}
		}
		rest = v[i+1:]
	}
	version, release, hasRelease := rest, "", false
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		version, release, hasRelease = rest[:i], rest[i+1:], true
	}
	if version == "" {
		return bad("version is empty")
	}
	if reason := rpmFieldError("version", version); reason != "" {
		return bad(reason)
	}
	if hasRelease {
		if release == "" {
			return bad("release is empty")
		}
		if reason := rpmFieldError("release", release); reason != "" {
			return bad(reason)
		}
	}
	return nil
}

// rpmFieldError is rpmbuild's rpmCharCheck for a version or release.
func rpmFieldError(field, s string) string {
	for k := 0; k < len(s); k++ {
		if c := s[k]; !isAlnum(c) && strings.IndexByte(rpmAllowed, c) < 0 {
			return "illegal character " + quoteByte(c) + " in " + field
		}
	}
	if strings.Contains(s, "..") {
		return `illegal sequence ".." in ` + field
	}
	return ""
}

// quoteByte renders one byte for an error message.
func quoteByte(c byte) string {
	const hex = "0123456789abcdef"
	if c >= 0x20 && c < 0x7f && c != '\'' {
		return "'" + string(rune(c)) + "'"
	}
	return `'\x` + string([]byte{hex[c>>4], hex[c&15]}) + "'"
}
