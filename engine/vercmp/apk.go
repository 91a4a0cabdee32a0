package vercmp

import (
	"fmt"
	"strings"
)

// Alpine versions: digit{.digit}...{letter}{_suf{#}}...{~hash}{-r#},
// ordered as apk-tools 3's src/version.c (token_first, token_next,
// token_cmp, apk_version_compare_fuzzy).

// Token types in the order apk-tools 3 declares them; the order matters.
const (
	apkInitialDigit = iota
	apkDigit
	apkLetter
	apkSuffix
	apkSuffixNo
	apkCommitHash
	apkRevisionNo
	apkEnd
	apkInvalid
)

// Suffix values in apk-tools 3's order: pre-release suffixes below
// apkSuffixNone, post-release ones above.
const (
	apkSufInvalid = iota
	apkSufAlpha
	apkSufBeta
	apkSufPre
	apkSufRC
	apkSufNone
	apkSufCVS
	apkSufSVN
	apkSufGit
	apkSufHg
	apkSufP
)

// apkToken is one token of an apk version: its type, the suffix value for
// apkSuffix, the number for digit tokens and the raw text, and the rest of
// the version after it.
type apkToken struct {
	kind   int
	suffix int
	number uint64
	value  string
	rest   string
}

// first reads the leading number of s.
func (t *apkToken) first(s string) {
	t.kind = apkInitialDigit
	t.digits(s)
}

// digits reads a run of digits from s. Like apk_blob_pull_uint the number
// wraps at 2^64. No digits at all makes the token invalid.
func (t *apkToken) digits(s string) {
	i := 0
	var n uint64
	for i < len(s) && isDigit(s[i]) {
		n = n*10 + uint64(s[i]-'0')
		i++
	}
	t.number, t.value, t.rest = n, s[:i], s[i:]
	if i == 0 {
		t.kind = apkInvalid
	}
}

// spanLower and spanHex return the length of the longest prefix of s made
// of a-z, or of 0-9a-f. Like apk_blob_spn they let every byte >= 0x80
// through.
func spanLower(s string) int {
	i := 0
	for i < len(s) && (s[i] >= 0x80 || isLower(s[i])) {
		i++
	}
	return i
}

func spanHex(s string) int {
	i := 0
	for i < len(s) && (s[i] >= 0x80 || isLowerHex(s[i])) {
		i++
	}
	return i
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }

func isLowerHex(c byte) bool { return isDigit(c) || (c >= 'a' && c <= 'f') }

// apkSuffixValue maps a suffix name to its value (apkSufInvalid if unknown).
func apkSuffixValue(s string) int {
	switch s {
	case "alpha":
		return apkSufAlpha
	case "beta":
		return apkSufBeta
	case "pre":
		return apkSufPre
	case "rc":
		return apkSufRC
	case "cvs":
		return apkSufCVS
	case "svn":
		return apkSufSVN
	case "git":
		return apkSufGit
	case "hg":
		return apkSufHg
	case "p":
		return apkSufP
	}
	return apkSufInvalid
}

// next reads the token after t, checking that it may follow t.
func (t *apkToken) next() {
	s := t.rest
	if s == "" {
		t.kind = apkEnd
		return
	}
	switch c := s[0]; {
	case isLower(c):
		if t.kind > apkDigit {
			break
		}
		t.kind, t.value, t.rest = apkLetter, s[:1], s[1:]
		return
	case c == '.' || isDigit(c):
		if c == '.' {
			if t.kind > apkDigit {
				break
			}
			s = s[1:]
		}
		switch t.kind {
		case apkInitialDigit, apkDigit:
			t.kind = apkDigit
		case apkSuffix:
			t.kind = apkSuffixNo
		default:
			t.kind, t.rest = apkInvalid, s
			return
		}
		t.digits(s)
		return
	case c == '_':
		if t.kind > apkSuffixNo {
			break
		}
		n := 1 + spanLower(s[1:])
		t.value, t.rest = s[1:n], s[n:]
		if t.suffix = apkSuffixValue(t.value); t.suffix == apkSufInvalid {
			t.kind = apkInvalid
			return
		}
		t.kind = apkSuffix
		return
	case c == '~':
		if t.kind >= apkCommitHash {
			break
		}
		n := 1 + spanHex(s[1:])
		t.value, t.rest = s[1:n], s[n:]
		if t.value == "" {
			t.kind = apkInvalid
			return
		}
		t.kind = apkCommitHash
		return
	case c == '-':
		if t.kind >= apkRevisionNo || !strings.HasPrefix(s, "-r") {
			break
		}
		t.kind = apkRevisionNo
		t.digits(s[2:])
		return
	}
	t.kind = apkInvalid
}

// apkTokenCmp is token_cmp for two tokens of the same type.
func apkTokenCmp(a, b *apkToken) int {
	var x, y uint64
	switch a.kind {
	case apkDigit:
		if a.value[0] == '0' || b.value[0] == '0' {
			// A leading zero compares as a string, as Gentoo does.
			return strings.Compare(a.value, b.value)
		}
		x, y = a.number, b.number
	case apkInitialDigit, apkSuffixNo, apkRevisionNo:
		x, y = a.number, b.number
	case apkLetter:
		x, y = uint64(a.value[0]), uint64(b.value[0])
	case apkSuffix:
		x, y = uint64(a.suffix), uint64(b.suffix)
	default:
		return strings.Compare(a.value, b.value)
	}
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// apkValidFrom reports whether the version goes on validly after token t:
// apk_version_validate's verdict, read by a byte loop that only tracks
// token types.
func apkValidFrom(t *apkToken) bool {
	kind, s := t.kind, t.rest
	if kind >= apkEnd {
		return kind == apkEnd
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isLower(c):
			if kind > apkDigit {
				return false
			}
			kind = apkLetter
			i++
		case c == '.':
			if kind > apkDigit {
				return false
			}
			j := i + 1
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			if j == i+1 {
				return false
			}
			kind, i = apkDigit, j
		case isDigit(c):
			// Digits are read whole, so one can only start a
			// suffix number here.
			if kind != apkSuffix {
				return false
			}
			for i < len(s) && isDigit(s[i]) {
				i++
			}
			kind = apkSuffixNo
		case c == '_':
			if kind > apkSuffixNo {
				return false
			}
			n := spanLower(s[i+1:])
			if apkSuffixValue(s[i+1:i+1+n]) == apkSufInvalid {
				return false
			}
			kind, i = apkSuffix, i+1+n
		case c == '~':
			if kind >= apkCommitHash {
				return false
			}
			n := spanHex(s[i+1:])
			if n == 0 {
				return false
			}
			kind, i = apkCommitHash, i+1+n
		case c == '-':
			if kind >= apkRevisionNo || i+1 >= len(s) || s[i+1] != 'r' {
				return false
			}
			j := i + 2
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			if j == i+2 {
				return false
			}
			kind, i = apkRevisionNo, j
		default:
			return false
		}
	}
	return true
}

// apkCompare is apk_version_compare_fuzzy plus the validity of both sides.
func apkCompare(a, b string, fuzzy bool) (r int, validA, validB bool) {
	var ta, tb apkToken
	ta.first(a)
	tb.first(b)
	for ta.kind == tb.kind && ta.kind < apkEnd {
		if c := apkTokenCmp(&ta, &tb); c != 0 {
			return c, apkValidFrom(&ta), apkValidFrom(&tb)
		}
		ta.next()
		tb.next()
	}
	validA, validB = apkValidFrom(&ta), apkValidFrom(&tb)
	switch {
	case ta.kind == tb.kind:
		return 0, validA, validB
	case tb.kind == apkEnd && fuzzy:
		return 0, validA, validB
	// The longer version is newer, unless what it has more is a
	// pre-release suffix.
	case ta.kind == apkSuffix && ta.suffix < apkSufNone:
		return -1, validA, validB
	case tb.kind == apkSuffix && tb.suffix < apkSufNone:
		return 1, validA, validB
	case ta.kind > tb.kind:
		return -1, validA, validB
	case tb.kind > ta.kind:
		return 1, validA, validB
	}
	return 0, validA, validB
}

// apkOrder applies the rule for invalid versions to a comparison result.
func apkOrder(a, b string, r int, validA, validB bool) int {
	switch {
	case validA && validB:
		return r
	case validA:
		return -1
	case validB:
		return 1
	}
	return strings.Compare(a, b)
}

// CompareAPK returns -1, 0 or 1 as a orders before, the same as, or after b
// in apk-tools 3's ordering (apk version -t a b): numbers compared as
// numbers (but as strings when either has a leading zero, after the first),
// then a letter, then suffixes (_alpha < _beta < _pre < _rc < none < _cvs <
// _svn < _git < _hg < _p, each with an optional number), then a ~hash
// (compared as a string), then -rN.
//
// apk-tools 3 refuses some strings (ValidateAPK); Compare still orders them
// deterministically: every valid version sorts before every invalid one,
// and invalid ones sort among themselves byte-wise. It never allocates.
func CompareAPK(a, b string) int {
	if a == b {
		return 0
	}
	r, va, vb := apkCompare(a, b, false)
	return apkOrder(a, b, r, va, vb)
}

// CompareAPKFuzzy is apk-tools 3's comparison for the fuzzy dependency
// operators: it returns 0 when b is a prefix of a by whole tokens (3.6.9 ~
// 3.6, but not 3.6 ~ 3.6.9). "a ~ b" holds when it returns 0, "a <~ b" when
// <= 0 and "a >~ b" when >= 0. It is a match, not an ordering: like
// apk-tools it judges only the tokens it reads, so 3.6.9_post1 ~ 3.6 holds
// although 3.6.9_post1 is not a valid version; apk-tools' own tests say so.
func CompareAPKFuzzy(a, b string) int {
	r, _, _ := apkCompare(a, b, true)
	return r
}

// ValidateAPK reports whether apk-tools 3 accepts v (apk_version_validate):
// nil or a *SyntaxError.
func ValidateAPK(v string) error {
	var t apkToken
	t.first(v)
	from := t.rest
	for t.kind < apkEnd {
		from = t.rest
		t.next()
	}
	if t.kind == apkEnd {
		return nil
	}
	var reason string
	switch {
	case v == "":
		reason = "version is empty"
	case !isDigit(v[0]):
		reason = "version does not start with a digit"
	default:
		// from is where the token apk-tools refused begins: it is
		// malformed or may not follow the token before it.
		reason = fmt.Sprintf("invalid from offset %d: %q", len(v)-len(from), from)
	}
	return &SyntaxError{Ecosystem: APK, Version: v, Reason: reason}
}
