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
// rules, as rpm's own comparison does; a NUL byte (which rpm never sees)
// separates segments like any other symbol. It never allocates.
func CompareRPM(a, b string) int {
	if a == b {
		return 0
	}
	// Fast path: compare epochs, then the rest up to the first '-', which
	// decides most pairs without looking for where the releases start.
	ea, sa := rpmEpochPrefix(a)
	eb, sb := rpmEpochPrefix(b)
	if ea != eb {
		if c := rpmvercmp(ea, eb); c != 0 {
			return c
		}
	}
	if r, ok := rpmvercmpStop(a[sa:], b[sb:], true); ok {
		return r
	}
	ha, hb := lastByte(a, '-'), lastByte(b, '-')
	// The last '-' of both lies in their common prefix: only the
	// releases differ.
	if ha == hb && ha > 0 && ha < commonPrefix(a, b, 0) {
		return rpmvercmp(a[ha+1:], b[ha+1:])
	}
	_, va, ra := splitRPMAt(a, ha)
	_, vb, rb := splitRPMAt(b, hb)
	if c := rpmvercmp(va, vb); c != 0 {
		return c
	}
	switch {
	case ha >= 0 && hb >= 0:
		return rpmvercmp(ra, rb)
	case ha >= 0:
		return 1
	case hb >= 0:
		return -1
	}
	return 0
}

// rpmEpochPrefix returns the epoch of an EVR ("0" when it has none) and
// where its version starts, as splitRPMAt does.
func rpmEpochPrefix(evr string) (epoch string, start int) {
	s := 0
	for s < len(evr) && isDigit(evr[s]) {
		s++
	}
	if s < len(evr) && evr[s] == ':' {
		if s == 0 {
			return "0", 1
		}
		return evr[:s], s + 1
	}
	return "0", 0
}

// splitRPMAt is rpm's parseEVR for a string whose last '-' is at h (or
// h < 0): the epoch is a leading run of digits ended by ':' (empty means
// "0"); the release follows the last '-'. No digit run reaches a '-', so
// h always lies after the epoch.
func splitRPMAt(evr string, h int) (epoch, version, release string) {
	s := 0
	for s < len(evr) && isDigit(evr[s]) {
		s++
	}
	epoch, start := "0", 0
	if s < len(evr) && evr[s] == ':' {
		if s > 0 {
			epoch = evr[:s]
		}
		start = s + 1
	}
	if h >= 0 {
		return epoch, evr[start:h], evr[h+1:]
	}
	return epoch, evr[start:], ""
}

func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

// rpmvercmp is rpm's segment-wise comparison of two version strings.
func rpmvercmp(a, b string) int {
	r, _ := rpmvercmpStop(a, b, false)
	return r
}

// rpmvercmpStop is rpmvercmp. With stop set it gives up (ok false) as soon
// as it meets a '-' in either string: run over whole EVRs after their
// epochs, every decision it does make lies before the first '-' of both,
// so inside both versions, and is the version comparison's.
func rpmvercmpStop(a, b string, stop bool) (r int, ok bool) {
	// Skip the common prefix, backing up to the start of a segment: up
	// to there both strings were scanned in step with equal results.
	k := commonPrefix(a, b, 0)
	if stop && k > 0 && strings.IndexByte(a[:k], '-') >= 0 {
		return 0, false
	}
	if k == len(a) && k == len(b) {
		return 0, true
	}
	for k > 0 && isAlnum(a[k-1]) {
		k--
	}
	i, j := k, k
	for i < len(a) || j < len(b) {
		for i < len(a) && !isAlnum(a[i]) && a[i] != '~' && a[i] != '^' {
			if stop && a[i] == '-' {
				return 0, false
			}
			i++
		}
		for j < len(b) && !isAlnum(b[j]) && b[j] != '~' && b[j] != '^' {
			if stop && b[j] == '-' {
				return 0, false
			}
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
				return 1, true
			}
			if cb != '~' {
				return -1, true
			}
			i++
			j++
			continue
		}
		// '^' sorts after the end of the string, before anything else.
		if ca == '^' || cb == '^' {
			if ca == 0 {
				return -1, true
			}
			if cb == 0 {
				return 1, true
			}
			if ca != '^' {
				return 1, true
			}
			if cb != '^' {
				return -1, true
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
				return 1, true
			}
			return -1, true
		}
		if isNum {
			for si < i && a[si] == '0' {
				si++
			}
			for sj < j && b[sj] == '0' {
				sj++
			}
			if la, lb := i-si, j-sj; la != lb {
				if la > lb {
					return 1, true
				}
				return -1, true
			}
		}
		if c := compareBytes(a[si:i], b[sj:j]); c != 0 {
			return c, true
		}
	}
	switch {
	case i >= len(a) && j >= len(b):
		return 0, true
	case i >= len(a):
		return -1, true
	}
	return 1, true
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

// compareBytes is strings.Compare for the short segments of a version,
// without the call into the runtime.
func compareBytes(a, b string) int {
	n := min(len(a), len(b))
	for k := 0; k < n; k++ {
		if a[k] != b[k] {
			if a[k] < b[k] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}
