package vercmp

import "strings"

// Debian versions: [epoch:]upstream_version[-debian_revision], ordered as
// dpkg's lib/dpkg/version.c (parseversion, dpkg_version_compare, verrevcmp).

// debMaxEpoch is dpkg's limit for an epoch (INT_MAX).
const debMaxEpoch = 1<<31 - 1

// CompareDeb returns -1, 0 or 1 as a orders before, the same as, or after b
// in dpkg's ordering (dpkg --compare-versions a lt|eq|gt b): epochs compared
// as numbers, then upstream versions, then revisions with verrevcmp, where
// '~' sorts before everything (even the end of the string), letters before
// every other non-digit, and runs of digits compare as numbers.
//
// Like dpkg it trims surrounding whitespace and compares versions that only
// draw a syntax warning. A version dpkg refuses outright is still ordered:
// an epoch that is not a number in range is taken as part of the upstream
// version, and a NUL byte (which a C tool never sees) weighs like any other
// symbol, so the result depends on the strings alone and is a total
// preorder. It never allocates.
func CompareDeb(a, b string) int {
	if a == b {
		return 0
	}
	// Fast path: when the last '-' of both lies in their common prefix,
	// and no whitespace needs trimming, epoch and upstream version are the
	// same and only the revisions differ.
	if h, ok := commonLastHyphen(a, b); ok && !isSpaceC(a[0]) && !isSpaceC(a[len(a)-1]) && !isSpaceC(b[len(b)-1]) {
		return verrevcmp(a[h+1:], b[h+1:])
	}
	ea, ua, ra := splitDeb(a)
	eb, ub, rb := splitDeb(b)
	if ea != eb {
		if ea < eb {
			return -1
		}
		return 1
	}
	if c := verrevcmp(ua, ub); c != 0 {
		return c
	}
	return verrevcmp(ra, rb)
}

// splitDeb splits a version leniently into epoch, upstream and revision:
// surrounding whitespace is trimmed, the epoch is what precedes the first
// ':' when debEpoch accepts it, and the revision follows the last '-' after
// that.
func splitDeb(v string) (epoch int, upstream, revision string) {
	if v != "" && (isSpaceC(v[0]) || isSpaceC(v[len(v)-1])) {
		v = trimSpaceC(v)
	}
	if i := strings.IndexByte(v, ':'); i > 0 {
		if e, ok := debEpoch(v[:i]); ok {
			epoch, v = e, v[i+1:]
		}
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

// debEpoch parses an epoch the way dpkg's strtol call accepts it: an
// optional sign, then decimal digits, the value in [0, INT_MAX].
func debEpoch(s string) (int, bool) {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
		if n > debMaxEpoch {
			return 0, false
		}
	}
	if neg && n != 0 {
		return 0, false
	}
	return n, true
}

// debOrder is dpkg's order(): the weight of a non-digit character. Digits
// weigh 0 like the end of the string; bytes >= 0x80 weigh what a signed
// char + 256 gives in dpkg, which is the byte value itself.
func debOrder(c byte) int {
	switch {
	case isDigit(c):
		return 0
	case isAlpha(c):
		return int(c)
	case c == '~':
		return -1
	case c >= 0x80:
		return int(c)
	}
	return int(c) + 256
}

// verrevcmp is dpkg's comparison of an upstream version or a revision.
func verrevcmp(a, b string) int {
	// Skip the common prefix, backing up to the start of a digit run:
	// up to there both strings were scanned in step with equal results.
	k, n := 0, min(len(a), len(b))
	for k < n && a[k] == b[k] {
		k++
	}
	if k == len(a) && k == len(b) {
		return 0
	}
	for k > 0 && isDigit(a[k-1]) {
		k--
	}
	i, j := k, k
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := 0, 0
			if i < len(a) {
				ac = debOrder(a[i])
			}
			if j < len(b) {
				bc = debOrder(b[j])
			}
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		firstDiff := 0
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			return sign(firstDiff)
		}
	}
	return 0
}

// isSpaceC is C's isspace in the C locale.
func isSpaceC(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r')
}

func trimSpaceC(s string) string {
	for s != "" && isSpaceC(s[0]) {
		s = s[1:]
	}
	for s != "" && isSpaceC(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// ValidateDeb reports whether dpkg accepts v (dpkg --validate-version): nil,
// or a *SyntaxError with dpkg's own reason. Hard errors (dpkg refuses to
// parse) have Warning false; "bad syntax" that dpkg still compares with a
// warning has Warning true.
func ValidateDeb(v string) error {
	bad := func(reason string, warn bool) error {
		return &SyntaxError{Ecosystem: Deb, Version: v, Reason: reason, Warning: warn}
	}
	if strings.IndexByte(v, 0) >= 0 {
		return bad("version string has embedded NUL", false)
	}
	s := trimSpaceC(v)
	if s == "" {
		return bad("version string is empty", false)
	}
	for i := 0; i < len(s); i++ {
		if isSpaceC(s[i]) {
			return bad("version string has embedded spaces", false)
		}
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		if i == 0 {
			return bad("epoch in version is empty", false)
		}
		if reason := debEpochError(s[:i]); reason != "" {
			return bad(reason, false)
		}
		s = s[i+1:]
		if s == "" {
			return bad("nothing after colon in version number", false)
		}
	}
	upstream, revision := s, ""
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		upstream, revision = s[:i], s[i+1:]
		if revision == "" {
			return bad("revision number is empty", false)
		}
	}
	if upstream == "" {
		return bad("version number is empty", false)
	}
	if !isDigit(upstream[0]) {
		return bad("version number does not start with digit", true)
	}
	for i := 1; i < len(upstream); i++ {
		if c := upstream[i]; !isDigit(c) && !isAlpha(c) && strings.IndexByte(".-+~:", c) < 0 {
			return bad("invalid character in version number", true)
		}
	}
	for i := 0; i < len(revision); i++ {
		if c := revision[i]; !isDigit(c) && !isAlpha(c) && strings.IndexByte(".+~", c) < 0 {
			return bad("invalid character in revision number", true)
		}
	}
	return nil
}

// debEpochError gives dpkg's complaint about an epoch, or "". dpkg parses
// the epoch with strtol, so "no digits at all" reads as an empty epoch.
func debEpochError(s string) string {
	digits := s
	if digits[0] == '+' || digits[0] == '-' {
		digits = digits[1:]
	}
	k := 0
	for k < len(digits) && isDigit(digits[k]) {
		k++
	}
	switch {
	case k == 0:
		return "epoch in version is empty"
	case k < len(digits):
		return "epoch in version is not number"
	case s[0] == '-' && strings.Trim(digits, "0") != "":
		return "epoch in version is negative"
	}
	if _, ok := debEpoch(s); !ok {
		return "epoch in version is too big"
	}
	return ""
}
