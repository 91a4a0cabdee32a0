package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/patchbay/patchbay/engine/gate"
	"github.com/patchbay/patchbay/engine/plural"
)

// GateText writes a gate decision for terminals: the result, every deny,
// missing and warn with its rule id, and the evaluation manifest.
func GateText(w io.Writer, d gate.Decision, approvers []string, evidenceSource string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "gate: %s\n", strings.ToUpper(string(d.Result)))
	for _, e := range d.Errors {
		fmt.Fprintf(&b, "  error  %s\n", e)
	}
	for _, group := range []struct {
		name string
		fs   []gate.Finding
	}{{"deny", d.Deny}, {"missing", d.Missing}, {"warn", d.Warn}} {
		for _, f := range group.fs {
			fmt.Fprintf(&b, "  %-7s %s: %s\n", group.name, f.ID, f.Msg)
		}
	}
	fmt.Fprintf(&b, "approvals counted: %s\n", orNone(approvers))
	if evidenceSource != "" {
		fmt.Fprintf(&b, "evidence: %s\n", evidenceSource)
	}
	m := d.Manifest
	fmt.Fprintf(&b, "manifest: bundle %s, %s, %s evaluated, input %s\n", short(m.BundleDigest), plural.Count(len(m.Files), "policy file"), plural.Count(m.RulesEvaluated, "rule"), short(m.InputDigest))
	_, err := io.WriteString(w, b.String())
	return err
}

// GateMarkdown writes a gate decision as a pull-request comment section.
func GateMarkdown(w io.Writer, d gate.Decision, approvers []string, evidenceSource string) error {
	var b strings.Builder
	icon := map[gate.Result]string{"pass": ":white_check_mark:", "fail": ":x:", "inconclusive": ":grey_question:"}[d.Result]
	fmt.Fprintf(&b, "### Gate: %s **%s**\n\n", icon, d.Result)
	if n := len(d.Errors) + len(d.Deny) + len(d.Missing) + len(d.Warn); n > 0 {
		b.WriteString("| | Rule | Message |\n|---|---|---|\n")
		for _, e := range d.Errors {
			fmt.Fprintf(&b, "| error | | %s |\n", escape(e))
		}
		for _, group := range []struct {
			name string
			fs   []gate.Finding
		}{{":x: deny", d.Deny}, {":grey_question: missing", d.Missing}, {":warning: warn", d.Warn}} {
			for _, f := range group.fs {
				fmt.Fprintf(&b, "| %s | `%s` | %s |\n", group.name, f.ID, escape(f.Msg))
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Approvals counted: %s. ", orNone(approvers))
	if evidenceSource != "" {
		fmt.Fprintf(&b, "Evidence: %s.", evidenceSource)
	}
	m := d.Manifest
	fmt.Fprintf(&b, "\n\n<sub>Evaluation manifest: policy bundle `%s` (%s), %s evaluated, input `%s`.</sub>\n", short(m.BundleDigest), plural.Count(len(m.Files), "file"), plural.Count(m.RulesEvaluated, "rule"), short(m.InputDigest))
	_, err := io.WriteString(w, b.String())
	return err
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
