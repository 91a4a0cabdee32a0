package baseline

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
)

// addCUE converts CUE errors into Errors: one line each, positioned in the
// user's files, with CUE's empty-disjunction noise collapsed into one
// "must be one of" line.
func (l *loader) addCUE(err error) {
	if err == nil {
		return
	}
	type group struct {
		path     string
		disjunct bool
		errs     []cueerrors.Error
	}
	var order []string
	groups := map[string]*group{}
	for _, e := range cueerrors.Errors(err) {
		p := strings.Join(e.Path(), ".")
		g := groups[p]
		if g == nil {
			g = &group{path: p}
			groups[p] = g
			order = append(order, p)
		}
		format, _ := e.Msg()
		if strings.Contains(format, "errors in empty disjunction") {
			g.disjunct = true
			continue
		}
		g.errs = append(g.errs, e)
	}
	for _, p := range order {
		g := groups[p]
		if len(g.errs) == 0 || isRingBaseline(p) {
			// Ring → baseline references are checked by checkRefs, which
			// also works while a baseline is broken.
			continue
		}
		if msg, pos, ok := l.explainExtends(p, g.errs); ok && !g.disjunct {
			l.add(l.at(pos, p, msg))
			continue
		}
		if g.disjunct || allConflicts(g.errs) {
			pos := userPos(g.errs)
			if isRingName(p) {
				// The ring's own file, not the promotion order, is wrong.
				pos = token.NoPos
			}
			c := choices(g.errs, l.literalAt(pos))
			l.add(l.at(pos, p, explainChoice(p, c)))
			continue
		}
		for _, e := range g.errs {
			l.add(l.at(userPos([]cueerrors.Error{e}), p, explain(p, message(e))))
		}
	}
}

// explainExtends words a conflict between a baseline and the baseline it
// extends: CUE unification cannot change an inherited rule, and its own
// message names neither "extends" nor what to do. The error is placed in the
// extending baseline's file.
func (l *loader) explainExtends(p string, errs []cueerrors.Error) (string, token.Pos, bool) {
	key := l.entityOf(p)
	parent := l.extends[key]
	if parent == "" || !allConflicts(errs) {
		return "", token.NoPos, false
	}
	own := l.fileOf(key)
	var ownPos, otherPos token.Pos
	for _, e := range errs {
		for _, pos := range cueerrors.Positions(e) {
			switch {
			case !pos.IsValid() || strings.HasPrefix(pos.Filename(), schemaPrefix):
			case pos.Filename() == own:
				if !ownPos.IsValid() {
					ownPos = pos
				}
			default:
				if !otherPos.IsValid() {
					otherPos = pos
				}
			}
		}
	}
	if !ownPos.IsValid() || !otherPos.IsValid() {
		return "", token.NoPos, false
	}
	from := parent
	for k, pos := range l.entities {
		if id, ok := strings.CutPrefix(k, "baselines."); ok && pos.Filename() == otherPos.Filename() {
			from = strings.Trim(id, `"`)
		}
	}
	inherited := fmt.Sprintf("baseline %q", from)
	if from != parent {
		inherited += fmt.Sprintf(" (through %q)", parent)
	}
	msg := fmt.Sprintf("%s conflicts with %s from %s, which this baseline extends: "+
		"a baseline with extends inherits every rule unchanged and can only add rules. "+
		"To raise this floor, write a new baseline that does not extend %q and carries the new rule, "+
		"or give the fix as a rule %q lacks (for example on the source package)",
		orUnknown(l.literalAt(ownPos)), orUnknown(l.literalAt(otherPos)), inherited, parent, parent)
	return msg, ownPos, true
}

func orUnknown(s string) string {
	if s == "" {
		return "this value"
	}
	return s
}

func allConflicts(errs []cueerrors.Error) bool {
	for _, e := range errs {
		if f, _ := e.Msg(); !strings.HasPrefix(f, "conflicting values") {
			return false
		}
	}
	return true
}

func isRingName(p string) bool {
	parts := strings.Split(p, ".")
	return len(parts) == 3 && parts[0] == "rings" && parts[2] == "name"
}

func isRingBaseline(p string) bool {
	parts := strings.Split(p, ".")
	return len(parts) == 3 && parts[0] == "rings" && parts[2] == "baseline"
}

// userPos returns the first position in a user file among the errors.
func userPos(errs []cueerrors.Error) token.Pos {
	for _, e := range errs {
		for _, p := range cueerrors.Positions(e) {
			if p.IsValid() && !strings.HasPrefix(p.Filename(), schemaPrefix) {
				return p
			}
		}
	}
	return token.NoPos
}

// schemaPos returns the last schema position of an error: where the
// alternative it was checked against is written.
func schemaPos(e cueerrors.Error) token.Pos {
	var last token.Pos
	for _, p := range cueerrors.Positions(e) {
		if strings.HasPrefix(p.Filename(), schemaPrefix) {
			last = p
		}
	}
	return last
}

var basicTypes = map[string]bool{"bool": true, "int": true, "string": true, "number": true, "float": true, "bytes": true}

// choice is what a failed disjunction or conflict allowed, and what the user
// wrote instead.
type choice struct {
	alts []string
	got  string
}

func (c choice) String() string {
	if len(c.alts) == 0 {
		return "no allowed value matches"
	}
	msg := "must be one of " + strings.Join(c.alts, ", ")
	if len(c.alts) == 1 {
		msg = "must be " + c.alts[0]
	}
	if c.got != "" {
		msg += " (got " + c.got + ")"
	}
	return msg
}

// choices turns the "conflicting values A and B" errors of a failed
// disjunction into the allowed alternatives, in schema order. got is the
// user's value when it could be read from the source.
func choices(errs []cueerrors.Error, got string) choice {
	type alt struct {
		text string
		pos  token.Pos
	}
	count := map[string]int{}
	pairs := 0
	for _, e := range errs {
		if format, args := e.Msg(); strings.HasPrefix(format, "conflicting values") && len(args) >= 2 {
			count[fmt.Sprint(args[0])]++
			count[fmt.Sprint(args[1])]++
			pairs++
		}
	}
	if got == "" && pairs > 1 {
		// The user's value is the one every conflict shares.
		for v, n := range count {
			if n == pairs && (got == "" || v < got) {
				got = v
			}
		}
	}
	var alts []alt
	var other []string
	seen := map[string]int{}
	for _, e := range errs {
		format, args := e.Msg()
		if !strings.HasPrefix(format, "conflicting values") || len(args) < 2 {
			other = append(other, message(e))
			continue
		}
		a := fmt.Sprint(args[0])
		if a == got {
			a = fmt.Sprint(args[1])
		}
		pos := schemaPos(e)
		if i, ok := seen[a]; ok {
			// A default repeats an alternative of a definition: order by
			// the definition.
			if posLess(alts[i].pos, pos) {
				alts[i].pos = pos
			}
			continue
		}
		seen[a] = len(alts)
		alts = append(alts, alt{text: a, pos: pos})
	}
	sort.SliceStable(alts, func(i, j int) bool { return posLess(alts[i].pos, alts[j].pos) })
	hasType := false
	for _, a := range alts {
		hasType = hasType || basicTypes[a.text]
	}
	c := choice{got: got}
	for _, a := range alts {
		if hasType && !basicTypes[a.text] {
			continue // "bool" already covers the default "false"
		}
		c.alts = append(c.alts, strings.Trim(a.text, `"`))
	}
	c.alts = append(c.alts, other...)
	return c
}

func posLess(a, b token.Pos) bool {
	if a.Filename() != b.Filename() {
		return a.Filename() < b.Filename()
	}
	return a.Offset() < b.Offset()
}

// literalAt returns the literal the user wrote at pos ("sometimes" with its
// quotes, or a number or keyword), or "" when pos is not in a user file.
func (l *loader) literalAt(pos token.Pos) string {
	src, ok := l.sources[pos.Filename()]
	if !ok || !pos.IsValid() || pos.Offset() >= len(src) {
		return ""
	}
	rest := src[pos.Offset():]
	if rest[0] == '"' {
		for i := 1; i < len(rest); i++ {
			if rest[i] == '\\' {
				i++
				continue
			}
			if rest[i] == '"' {
				return string(rest[:i+1])
			}
			if rest[i] == '\n' {
				break
			}
		}
		return ""
	}
	i := 0
	for i < len(rest) && (rest[i] == '.' || rest[i] == '-' || rest[i] == '_' || rest[i] >= '0' && rest[i] <= '9' || rest[i] >= 'a' && rest[i] <= 'z' || rest[i] >= 'A' && rest[i] <= 'Z') {
		i++
	}
	return string(rest[:i])
}

// explainChoice words a failed choice by where it is.
func explainChoice(p string, c choice) string {
	parts := strings.Split(p, ".")
	switch {
	case len(parts) == 5 && parts[0] == "rings" && parts[2] == "approvals" && parts[3] == "groups":
		return fmt.Sprintf("approver group %s is not declared in config.approvers (declared: %s)", c.got, strings.Join(c.alts, ", "))
	case len(parts) == 3 && parts[0] == "exceptions" && parts[2] == "ring":
		return fmt.Sprintf("ring %s does not exist (rings: %s)", c.got, strings.Join(c.alts, ", "))
	}
	return explain(p, c.String())
}

// message renders one CUE error without its path, in patchbay's words.
func message(e cueerrors.Error) string {
	format, args := e.Msg()
	msg := fmt.Sprintf(format, args...)
	switch {
	case strings.HasPrefix(format, "incomplete value"):
		want := friendlyBound(fmt.Sprint(args...))
		if strings.HasPrefix(want, "!=") || strings.Contains(want, "&") {
			want = "a value"
		}
		if want == "a value" {
			return "required field is missing"
		}
		return fmt.Sprintf("required field is missing (want %s)", want)
	case strings.Contains(msg, "field not allowed"):
		return "field not allowed: it is not in the schema (check the spelling)"
	}
	return msg
}

var boundRE = regexp.MustCompile(`=~"([^"]|\\")*"`)

// patterns are the schema's regular expressions, described for users.
var patterns = []struct{ needle, text string }{
	{`time.Format("2006-01-02")`, "a date YYYY-MM-DD"},
	{`[dhm])+$`, "a duration such as 24h, 14d or 1h30m"},
	{`[01][0-9]|2[0-3]`, "a time of day HH:MM"},
	{`^([0-9]|[1-9][0-9]|100)%$`, "a host count or a percentage such as 10%"},
	{`^[a-z][a-z0-9-]*$`, "a lowercase name (letters, digits, dashes)"},
	{`^[a-z][a-z0-9]*-[0-9][0-9a-z.]*$`, "a stream name such as debian-12 or rhel-9"},
	{`^[a-z0-9][a-z0-9._-]*$`, "an id of lowercase letters, digits, dots, dashes"},
	{`^[A-Za-z0-9][A-Za-z0-9+._@-]*$`, "a package name"},
	{`-----BEGIN PUBLIC KEY-----`, "a PEM public key"},
	{`^[^\\s]+$`, "a version without spaces"},
}

func friendlyBound(s string) string {
	for _, p := range patterns {
		if strings.Contains(s, p.needle) {
			return p.text
		}
	}
	return s
}

// explain rewrites messages whose meaning depends on where they are.
func explain(p, msg string) string {
	if strings.Contains(msg, `does not satisfy time.Format("2006-01-02")`) {
		got := ""
		if i := strings.Index(msg, "invalid value "); i >= 0 {
			if j := strings.Index(msg[i:], " (does not satisfy"); j >= 0 {
				got = " (got " + msg[i+len("invalid value "):i+j] + ")"
			}
		}
		return "must be a date YYYY-MM-DD" + got
	}
	if strings.Contains(msg, "out of bound =~") || strings.Contains(msg, "does not match =~") {
		if m := boundRE.FindString(msg); m != "" {
			if t := friendlyBound(m); t != m {
				got := ""
				if i := strings.Index(msg, "invalid value "); i >= 0 {
					rest := msg[i+len("invalid value "):]
					if j := strings.Index(rest, " (out of bound"); j >= 0 {
						got = " (got " + rest[:j] + ")"
					}
				}
				return "must be " + t + got
			}
		}
	}
	for _, pat := range patterns {
		if strings.Contains(msg, pat.needle) && strings.HasPrefix(msg, "must be one of") {
			msg = strings.Replace(msg, boundRE.FindString(msg), pat.text, 1)
		}
	}
	parts := strings.Split(p, ".")
	last := parts[len(parts)-1]
	switch {
	case len(parts) == 3 && parts[0] == "rings" && last == "name":
		return "ring is not listed in config.rings; add it to the promotion order in patchbay.cue"
	}
	return msg
}
