package github

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/patchbay/patchbay/engine/change"
	"github.com/patchbay/patchbay/engine/gate"
	"github.com/patchbay/patchbay/engine/plural"
	"github.com/patchbay/patchbay/engine/render"
)

// Marker is the hidden line that identifies patchbay's comment on a pull
// request, so it is found and edited in place instead of duplicated.
const Marker = "<!-- patchbay:gate -->"

// CheckName is the name of the check run (and commit status context) that
// branch protection requires.
const CheckName = "patchbay/gate"

// MaxCommentBytes is GitHub's limit on a comment body (and on a check
// run's output summary).
const MaxCommentBytes = 65536

// CommentInput is what a comment reports.
type CommentInput struct {
	// Result is the evaluation; nil when the change could not be
	// evaluated (then Err says why).
	Result *change.Result
	// Err is why the change could not be evaluated.
	Err error
	// HeadSHA is the pull request's head commit.
	HeadSHA string
}

// CommentMarkdown renders the pull request comment: the marker, the
// effect with its plan delta per ring, the gate decision with every deny,
// warn and missing finding, the evaluation manifest digests, and a short
// "What is missing" list. It stays under MaxCommentBytes.
func CommentMarkdown(in CommentInput) string {
	var b strings.Builder
	b.WriteString(Marker + "\n")
	b.WriteString("## patchbay\n\n")
	if in.Result == nil {
		fmt.Fprintf(&b, "### Gate: :x: **fail**\n\nThe change at `%s` could not be evaluated:\n\n", shortSHA(in.HeadSHA))
		for line := range strings.Lines(errText(in.Err)) {
			fmt.Fprintf(&b, "> %s", line)
		}
		b.WriteString("\n")
		return bound(b.String())
	}
	res := in.Result
	_ = render.EffectMarkdown(&b, res.Effect) // a strings.Builder does not fail
	if len(res.Effect.Delta) == 0 {
		b.WriteString("\n_No plan delta: no host reports were available._\n")
	}
	b.WriteString("\n")
	_ = render.GateMarkdown(&b, res.Decision, res.Approvers, res.EvidenceSource)
	if todo := Missing(res.Decision); len(todo) > 0 {
		b.WriteString("\n### What is missing\n\n")
		for _, t := range todo {
			fmt.Fprintf(&b, "- %s\n", t)
		}
	}
	m := res.Decision.Manifest
	fmt.Fprintf(&b, "\n<details><summary>Evaluation manifest</summary>\n\n- base: `%s`\n- head: `%s`\n- policy bundle: `%s`\n- input: `%s`\n- rules evaluated: %d\n\n</details>\n",
		res.BaseCommit, res.HeadCommit, m.BundleDigest, m.InputDigest, m.RulesEvaluated)
	return bound(b.String())
}

// approvalsShort parses the built-in promotion.approvals.insufficient
// message; any other wording is shown as the policy wrote it.
var approvalsShort = regexp.MustCompile(`^ring (\S+): (\d+) of (\d+) required approvals from (.+) on head commit ([0-9a-f]+) \(counted: (.*)\)$`)

// Missing lists what still stands between the change and a pass: each
// deny and each missing piece of evidence, in the policies' own words
// (they name the ring, the group and the commit), and evaluation errors.
// A shortfall of approvals is said as what is needed: "ring pilot needs 2
// more approvals from group sre on commit 52745c4". Each line ends with the
// rule that asked for it ("(rule governance.policy_owner)").
func Missing(d gate.Decision) []string {
	var out []string
	for _, e := range d.Errors {
		out = append(out, "policy evaluation error: "+e)
	}
	for _, f := range d.Deny {
		if m := approvalsShort.FindStringSubmatch(f.Msg); f.ID == "promotion.approvals.insufficient" && m != nil {
			got, _ := strconv.Atoi(m[2])
			want, _ := strconv.Atoi(m[3])
			if n := want - got; n > 0 {
				noun := "approvals"
				if n == 1 {
					noun = "approval"
				}
				group := "group"
				if strings.Contains(m[4], ", ") {
					group = "groups"
				}
				out = append(out, fmt.Sprintf("ring %s needs %d more %s from %s %s on commit %s (counted: %s) (rule %s)", m[1], n, noun, group, m[4], shortSHA(m[5]), m[6], f.ID))
				continue
			}
		}
		out = append(out, f.Msg+" (rule "+f.ID+")")
	}
	for _, f := range d.Missing {
		out = append(out, f.Msg+" (rule "+f.ID+")")
	}
	return out
}

// Summary is the one-line description of a result, used for the check
// run's title and the commit status' description.
func Summary(res *change.Result) string {
	if res == nil {
		return "the change could not be evaluated"
	}
	d := res.Decision
	switch d.Result {
	case gate.Pass:
		return fmt.Sprintf("pass: %s evaluated, approvals: %s", plural.Count(d.Manifest.RulesEvaluated, "rule"), strings.Join(res.Approvers, ", "))
	case gate.Inconclusive:
		return fmt.Sprintf("inconclusive: %d missing", len(d.Missing))
	}
	return fmt.Sprintf("fail: %d denied, %d missing", len(d.Deny)+len(d.Errors), len(d.Missing))
}

func errText(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// bound cuts s to fit GitHub's limit, saying so.
func bound(s string) string {
	if len(s) <= MaxCommentBytes {
		return s
	}
	const note = "\n\n… (cut: the comment exceeded GitHub's 65,536 character limit; run `patchbay gate` for everything)\n"
	cut := s[:MaxCommentBytes-len(note)]
	for len(cut) > 0 && !isRuneStart(cut[len(cut)-1]) {
		cut = cut[:len(cut)-1]
	}
	if i := strings.LastIndexByte(cut, '\n'); i > 0 {
		cut = cut[:i]
	}
	return cut + note
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func shortSHA(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}
