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
	if a == "" || b == "" || isSpaceC(a[0]) || isSpaceC(b[0]) || isSpaceC(a[len(a)-1]) || isSpaceC(b[len(b)-1]) {
		return compareDebParts(splitDeb(a), splitDeb(b))
	}
	// Fast path: compare epochs, then the rest up to the first '-', which
	// decides most pairs without looking for where the revisions start.
	ea, sa := debEpochPrefix(a)
	eb, sb := debEpochPrefix(b)
	if ea != eb {
		if ea < eb {
			return -1
		}
		return 1
	}
	if r, ok := verrevcmpStop(a[sa:], b[sb:], true); ok {
		return r
	}
	ha, hb := lastByte(a, '-'), lastByte(b, '-')
	// The last '-' of both lies in their common prefix: only the
	// revisions differ.
	if ha == hb && ha > 0 && ha < commonPrefix(a, b) {
		return verrevcmp(a[ha+1:], b[ha+1:])
	}
	return compareDebParts(splitDebAt(a, ha), splitDebAt(b, hb))
}

// debEpochPrefix returns the epoch of a version without surrounding
// whitespace and where its upstream version starts, as splitDebAt does.
func debEpochPrefix(v string) (epoch, start int) {
	i := 0
	if i < len(v) && (v[i] == '+' || v[i] == '-') {
		i++
	}
	for i < len(v) && isDigit(v[i]) {
		i++
	}
	if i > 0 && i < len(v) && v[i] == ':' {
		if e, ok := debEpoch(v[:i]); ok {
			return e, i + 1
		}
	}
	return 0, 0
}

// debParts is a version split into epoch, upstream version and revision.
type debParts struct {
	epoch              int
	upstream, revision string
}

func compareDebParts(a, b debParts) int {
	if a.epoch != b.epoch {
		if a.epoch < b.epoch {
			return -1
		}
		return 1
	}
	if c := verrevcmp(a.upstream, b.upstream); c != 0 {
		return c
	}
	return verrevcmp(a.revision, b.revision)
}

// splitDebAt splits a version without surrounding whitespace whose last
// '-' is at h (or h < 0). The epoch is a leading [sign]digits run ended by
// ':' that debEpoch accepts: any other first ':' has a non-digit before
// it, which dpkg refuses as an epoch.
func splitDebAt(v string, h int) debParts {
	var p debParts
	var start int
	p.epoch, start = debEpochPrefix(v)
	if h >= start {
		p.upstream, p.revision = v[start:h], v[h+1:]
	} else {
		p.upstream = v[start:]
	}
	return p
}

// splitDeb splits a version leniently into epoch, upstream and revision:
// surrounding whitespace is trimmed, the epoch is what precedes the first
// ':' when debEpoch accepts it, and the revision follows the last '-' after
// that.
func splitDeb(v string) debParts {
	v = trimSpaceC(v)
	return splitDebAt(v, strings.LastIndexByte(v, '-'))
}

// commonPrefix returns the length of the longest common prefix of a and b.
func commonPrefix(a, b string) int {
	k, n := 0, min(len(a), len(b))
	for k < n && a[k] == b[k] {
		k++
	}
	return k
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
	r, _ := verrevcmpStop(a, b, false)
	return r
}

// verrevcmpStop is verrevcmp. With stop set it gives up (ok false) as soon
// as it meets a '-' in either string: run over whole versions after their
// epochs, every decision it does make lies before the first '-' of both,
// so inside both upstream versions, and is the upstream comparison's.
func verrevcmpStop(a, b string, stop bool) (r int, ok bool) {
	// Skip the common prefix, backing up to the start of a digit run:
	// up to there both strings were scanned in step with equal results.
	k := commonPrefix(a, b)
	if stop && strings.IndexByte(a[:k], '-') >= 0 {
		return 0, false
	}
	if k == len(a) && k == len(b) {
		return 0, true
	}
	for k > 0 && isDigit(a[k-1]) {
		k--
	}
	i, j := k, k
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := 0, 0
			if i < len(a) {
				if stop && a[i] == '-' {
					return 0, false
				}
				ac = debOrder(a[i])
			}
			if j < len(b) {
				if stop && b[j] == '-' {
					return 0, false
				}
				bc = debOrder(b[j])
			}
			if ac != bc {
				return sign(ac - bc), true
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
			return 1, true
		}
		if j < len(b) && isDigit(b[j]) {
			return -1, true
		}
		if firstDiff != 0 {
			return sign(firstDiff), true
		}
	}
	return 0, true
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
