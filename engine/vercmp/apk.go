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
// apkSuffix, the number for digit tokens and the raw text.
type apkToken struct {
	kind   int
	suffix int
	number uint64
	value  string
}

// apkFirst reads the leading number; rest is what follows it.
func apkFirst(s string) (t apkToken, rest string) {
	t.kind = apkInitialDigit
	return apkDigits(t, s)
}

// apkDigits reads a run of digits into t. Like apk_blob_pull_uint the
// number wraps at 2^64. No digits at all makes the token invalid.
func apkDigits(t apkToken, s string) (apkToken, string) {
	i := 0
	var n uint64
	for i < len(s) && isDigit(s[i]) {
		n = n*10 + uint64(s[i]-'0')
		i++
	}
	t.number, t.value = n, s[:i]
	if i == 0 {
		t.kind = apkInvalid
	}
	return t, s[i:]
}

// apkSpan returns the longest prefix of s whose bytes satisfy ok. Like
// apk_blob_spn it lets every byte >= 0x80 through.
func apkSpan(s string, ok func(byte) bool) int {
	i := 0
	for i < len(s) && (s[i] >= 0x80 || ok(s[i])) {
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

// apkNext reads the token after t from s, checking that it may follow t.
func apkNext(t apkToken, s string) (apkToken, string) {
	if s == "" {
		t.kind = apkEnd
		return t, s
	}
	switch c := s[0]; {
	case isLower(c):
		if t.kind > apkDigit {
			break
		}
		t.kind, t.value = apkLetter, s[:1]
		return t, s[1:]
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
			t.kind = apkInvalid
			return t, s
		}
		return apkDigits(t, s)
	case c == '_':
		if t.kind > apkSuffixNo {
			break
		}
		n := 1 + apkSpan(s[1:], isLower)
		t.value, s = s[1:n], s[n:]
		if t.suffix = apkSuffixValue(t.value); t.suffix == apkSufInvalid {
			break
		}
		t.kind = apkSuffix
		return t, s
	case c == '~':
		if t.kind >= apkCommitHash {
			break
		}
		n := 1 + apkSpan(s[1:], isLowerHex)
		t.value, s = s[1:n], s[n:]
		if t.value == "" {
			break
		}
		t.kind = apkCommitHash
		return t, s
	case c == '-':
		if t.kind >= apkRevisionNo || !strings.HasPrefix(s, "-r") {
			break
		}
		t.kind = apkRevisionNo
		return apkDigits(t, s[2:])
	}
	t.kind = apkInvalid
	return t, s
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

// apkValidFrom finishes reading a version from token t and rest and
// reports whether it ends well.
func apkValidFrom(t apkToken, rest string) bool {
	for t.kind < apkEnd {
		t, rest = apkNext(t, rest)
	}
	return t.kind == apkEnd
}

// apkCompare is apk_version_compare_fuzzy plus the validity of both sides,
// read in the same pass.
func apkCompare(a, b string, fuzzy bool) (r int, validA, validB bool) {
	ta, ra := apkFirst(a)
	tb, rb := apkFirst(b)
	for ta.kind == tb.kind && ta.kind < apkEnd {
		if c := apkTokenCmp(&ta, &tb); c != 0 {
			return c, apkValidFrom(ta, ra), apkValidFrom(tb, rb)
		}
		ta, ra = apkNext(ta, ra)
		tb, rb = apkNext(tb, rb)
	}
	validA, validB = apkValidFrom(ta, ra), apkValidFrom(tb, rb)
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
	t, rest := apkFirst(v)
	from := rest
	for t.kind < apkEnd {
		from = rest
		t, rest = apkNext(t, rest)
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
