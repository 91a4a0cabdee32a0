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
	k, h := commonPrefixHyphen(a, b)
	if k == len(a) && k == len(b) {
		return 0
	}
	if a == "" || b == "" || isSpaceC(a[0]) || isSpaceC(b[0]) || isSpaceC(a[len(a)-1]) || isSpaceC(b[len(b)-1]) {
		return compareDebParts(splitDeb(a), splitDeb(b))
	}
	ea, sa, scanned := debEpochScan(a)
	eb, sb := ea, sa
	if scanned >= k {
		// b differs from a where a's epoch was read: read b's.
		eb, sb, _ = debEpochScan(b)
	}
	if ea != eb {
		if ea < eb {
			return -1
		}
		return 1
	}
	// From here on compare what follows the epochs, x and y, which agree
	// on their first kx bytes.
	x, y := a[sa:], b[sb:]
	kx, p := 0, -1
	switch {
	case sa != sb:
		kx, p = commonPrefixHyphen(x, y)
	case k > sa:
		kx, p = k-sa, h-sa
		if h >= 0 && h < sa {
			// The '-' was an epoch's sign; look past it.
			p = strings.IndexByte(x[:kx], '-')
		}
	}
	if p >= 0 {
		// Same upstream up to a '-': when it is the only '-' after it
		// in both, only the revisions differ.
		if strings.IndexByte(x[p+1:], '-') < 0 && strings.IndexByte(y[p+1:], '-') < 0 {
			r, _ := verrevcmpStop(x[p+1:], y[p+1:], false, kx-p-1)
			return r
		}
	} else if r, ok := verrevcmpStop(x, y, true, kx); ok {
		// Decided before the first '-' of either: inside both upstream
		// versions, wherever their revisions start.
		return r
	}
	hx, hy := lastByte(x, '-'), lastByte(y, '-')
	ux, rx := debCut(x, 0, hx)
	uy, ry := debCut(y, 0, hy)
	if r, _ := verrevcmpStop(ux, uy, false, min(kx, len(ux), len(uy))); r != 0 {
		return r
	}
	known := 0
	if hx == hy && hx >= 0 && kx > hx+1 {
		known = kx - hx - 1
	}
	r, _ := verrevcmpStop(rx, ry, false, known)
	return r
}

// debCut returns the upstream version and revision of v, whose upstream
// version starts at s and whose last '-' is at h (or h < 0).
func debCut(v string, s, h int) (upstream, revision string) {
	if h >= s {
		return v[s:h], v[h+1:]
	}
	return v[s:], ""
}

// debEpochPrefix returns the epoch of a version without surrounding
// whitespace and where its upstream version starts, as splitDebAt does.
func debEpochPrefix(v string) (epoch, start int) {
	epoch, start, _ = debEpochScan(v)
	return epoch, start
}

// debEpochScan is debEpochPrefix that also says how many bytes of v the
// answer depends on: another version with the same first scanned+1 bytes
// has the same epoch and start.
func debEpochScan(v string) (epoch, start, scanned int) {
	i := 0
	if i < len(v) && (v[i] == '+' || v[i] == '-') {
		i++
	}
	for i < len(v) && isDigit(v[i]) {
		i++
	}
	if i > 0 && i < len(v) && v[i] == ':' {
		if e, ok := debEpoch(v[:i]); ok {
			return e, i + 1, i
		}
	}
	return 0, 0, i
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

// commonPrefixHyphen returns the length of the longest common prefix of a
// and b and the index of its first '-' (or -1).
func commonPrefixHyphen(a, b string) (k, hyphen int) {
	hyphen = -1
	n := min(len(a), len(b))
	for k < n && a[k] == b[k] {
		if a[k] == '-' && hyphen < 0 {
			hyphen = k
		}
		k++
	}
	return k, hyphen
}

// commonPrefix returns the length of the longest common prefix of a and b,
// which are known to agree on their first known bytes.
func commonPrefix(a, b string, known int) int {
	k, n := known, min(len(a), len(b))
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

// debRank maps a byte to its rank in dpkg's order(): '~' lowest, then
// digits (weighing like the end of the string, rank 1), letters, bytes >=
// 0x80, then every other byte. TestDebRank checks it against debOrder.
const debRank = "" +
	"\xb6\xb7\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf\xc0\xc1\xc2\xc3\xc4\xc5" +
	"\xc6\xc7\xc8\xc9\xca\xcb\xcc\xcd\xce\xcf\xd0\xd1\xd2\xd3\xd4\xd5" +
	"\xd6\xd7\xd8\xd9\xda\xdb\xdc\xdd\xde\xdf\xe0\xe1\xe2\xe3\xe4\xe5" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\xe6\xe7\xe8\xe9\xea\xeb" +
	"\xec\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10" +
	"\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\xed\xee\xef\xf0\xf1" +
	"\xf2\x1c\x1d\x1e\x1f\x20\x21\x22\x23\x24\x25\x26\x27\x28\x29\x2a" +
	"\x2b\x2c\x2d\x2e\x2f\x30\x31\x32\x33\x34\x35\xf3\xf4\xf5\x00\xf6" +
	"\x36\x37\x38\x39\x3a\x3b\x3c\x3d\x3e\x3f\x40\x41\x42\x43\x44\x45" +
	"\x46\x47\x48\x49\x4a\x4b\x4c\x4d\x4e\x4f\x50\x51\x52\x53\x54\x55" +
	"\x56\x57\x58\x59\x5a\x5b\x5c\x5d\x5e\x5f\x60\x61\x62\x63\x64\x65" +
	"\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f\x70\x71\x72\x73\x74\x75" +
	"\x76\x77\x78\x79\x7a\x7b\x7c\x7d\x7e\x7f\x80\x81\x82\x83\x84\x85" +
	"\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95" +
	"\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f\xa0\xa1\xa2\xa3\xa4\xa5" +
	"\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5"

// verrevcmp is dpkg's comparison of an upstream version or a revision.
func verrevcmp(a, b string) int {
	r, _ := verrevcmpStop(a, b, false, 0)
	return r
}

// verrevcmpStop is verrevcmp. With stop set it gives up (ok false) as soon
// as it meets a '-' in either string: run over whole versions after their
// epochs, every decision it does make lies before the first '-' of both,
// so inside both upstream versions, and is the upstream comparison's.
// The caller may know that a and b agree on their first known bytes; with
// stop set, it also vouches that those hold no '-'.
func verrevcmpStop(a, b string, stop bool, known int) (r int, ok bool) {
	// Skip the common prefix, backing up to the start of a digit run:
	// up to there both strings were scanned in step with equal results.
	k := commonPrefix(a, b, known)
	if stop && k > known && strings.IndexByte(a[known:k], '-') >= 0 {
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
			ac, bc := debRank['0'], debRank['0'] // the end weighs like a digit
			if i < len(a) {
				if stop && a[i] == '-' {
					return 0, false
				}
				ac = debRank[a[i]]
			}
			if j < len(b) {
				if stop && b[j] == '-' {
					return 0, false
				}
				bc = debRank[b[j]]
			}
			if ac != bc {
				if ac < bc {
					return -1, true
				}
				return 1, true
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
