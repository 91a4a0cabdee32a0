// Package plural words counts for people: "1 host", "2 hosts". It owns no
// other wording and imports nothing of patchbay, so every binary (the agent
// included) may use it.
package plural

import (
	"strconv"
	"strings"
)

// irregular maps the singular nouns patchbay prints whose plural is not
// formed by adding "s" or "es".
var irregular = map[string]string{"policy": "policies", "dependency": "dependencies", "entry": "entries"}

// Count returns n and the noun, plural unless n is 1: Count(1, "error") is
// "1 error", Count(3, "match") is "3 matches".
func Count(n int, noun string) string {
	return strconv.Itoa(n) + " " + Noun(n, noun)
}

// Noun returns the noun, plural unless n is 1. For a compound noun
// ("ring.verified record", "policy file") only the last word changes.
func Noun(n int, noun string) string {
	if n == 1 {
		return noun
	}
	head, last := "", noun
	if i := strings.LastIndexByte(noun, ' '); i >= 0 {
		head, last = noun[:i+1], noun[i+1:]
	}
	if p, ok := irregular[last]; ok {
		return head + p
	}
	for _, suffix := range []string{"s", "x", "sh", "ch"} {
		if strings.HasSuffix(last, suffix) {
			return head + last + "es"
		}
	}
	return head + last + "s"
}

// Verb returns one when n is 1 and many otherwise: Verb(n, "needs", "need").
func Verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
