package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/patchbay/patchbay/engine/plan"
)

func short(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

func shortRev(r string) string {
	if len(r) > 12 {
		return r[:12]
	}
	return r
}

// EffectText writes what a change does, for terminals.
func EffectText(w io.Writer, e *plan.Effect) error {
	var b strings.Builder
	fmt.Fprintf(&b, "change %s..%s  effect %s\n", shortRev(e.Base), shortRev(e.Head), short(e.Digest))
	if len(e.RingsMoved) == 0 && len(e.BaselinesAdded) == 0 && len(e.BaselinesChanged) == 0 && len(e.BaselinesRemoved) == 0 &&
		len(e.RingsChanged) == 0 && len(e.ExceptionsAdded)+len(e.ExceptionsChanged)+len(e.ExceptionsRemoved) == 0 && !e.ConfigChanged {
		b.WriteString("no change to the desired state\n")
	}
	for _, m := range e.RingsMoved {
		fmt.Fprintf(&b, "ring %s: %s → %s (%s → %s)\n", m.Ring, m.From, m.To, short(m.FromDigest), short(m.ToDigest))
	}
	for _, c := range e.BaselinesAdded {
		fmt.Fprintf(&b, "baseline added: %s (%s)\n", c.ID, short(c.After))
	}
	for _, c := range e.BaselinesChanged {
		line := fmt.Sprintf("baseline changed: %s (%s → %s)", c.ID, short(c.Before), short(c.After))
		if len(c.PinnedBy) > 0 {
			line += fmt.Sprintf(" IMMUTABILITY VIOLATION: pinned by %s at base", strings.Join(c.PinnedBy, ", "))
		}
		b.WriteString(line + "\n")
	}
	for _, c := range e.BaselinesRemoved {
		fmt.Fprintf(&b, "baseline removed: %s\n", c.ID)
	}
	if len(e.RingsChanged) > 0 {
		fmt.Fprintf(&b, "ring definitions changed: %s\n", strings.Join(e.RingsChanged, ", "))
	}
	for _, x := range [][2]any{{"added", e.ExceptionsAdded}, {"changed", e.ExceptionsChanged}, {"removed", e.ExceptionsRemoved}} {
		if ids := x[1].([]string); len(ids) > 0 {
			fmt.Fprintf(&b, "exceptions %s: %s\n", x[0], strings.Join(ids, ", "))
		}
	}
	if e.ConfigChanged {
		b.WriteString("config (patchbay.cue) changed\n")
	}
	if len(e.Delta) > 0 {
		b.WriteString("\nRING     HOSTS  CHANGING  COMPLIANT BEFORE → AFTER  REBOOTS  PACKAGE CHANGES\n")
		for _, d := range e.Delta {
			fmt.Fprintf(&b, "%-8s %5d  %8d  %6d → %-15d %7d  %s\n", d.Ring, d.Hosts, d.HostsChanged, d.CompliantBefore, d.CompliantAfter, d.RebootsExpected, packageChanges(d.PackageChanges, 6))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func packageChanges(pc []plan.PackageCount, n int) string {
	if len(pc) == 0 {
		return "-"
	}
	var parts []string
	for i, p := range pc {
		if i == n {
			parts = append(parts, fmt.Sprintf("+%d more", len(pc)-n))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%d)", p.Rule, p.Hosts))
	}
	return strings.Join(parts, ", ")
}

// EffectMarkdown writes what a change does as a pull-request comment section.
func EffectMarkdown(w io.Writer, e *plan.Effect) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### What this change does\n\nEffect `%s` (base `%s`, head `%s`).\n\n", short(e.Digest), shortRev(e.Base), shortRev(e.Head))
	if len(e.RingsMoved) > 0 {
		b.WriteString("| Ring | From | To |\n|---|---|---|\n")
		for _, m := range e.RingsMoved {
			fmt.Fprintf(&b, "| **%s** | `%s` | `%s` |\n", m.Ring, m.From, m.To)
		}
		b.WriteString("\n")
	}
	for _, c := range e.BaselinesAdded {
		fmt.Fprintf(&b, "- Baseline added: `%s` (`%s`)\n", c.ID, short(c.After))
	}
	for _, c := range e.BaselinesChanged {
		if len(c.PinnedBy) > 0 {
			fmt.Fprintf(&b, "- :x: Baseline `%s` changed while pinned by %s: baselines are immutable once pinned; add a new baseline instead.\n", c.ID, strings.Join(c.PinnedBy, ", "))
		} else {
			fmt.Fprintf(&b, "- Baseline changed: `%s`\n", c.ID)
		}
	}
	for _, c := range e.BaselinesRemoved {
		fmt.Fprintf(&b, "- Baseline removed: `%s`\n", c.ID)
	}
	if len(e.RingsChanged) > 0 {
		fmt.Fprintf(&b, "- Ring definitions changed: %s\n", strings.Join(e.RingsChanged, ", "))
	}
	if n := len(e.ExceptionsAdded) + len(e.ExceptionsChanged) + len(e.ExceptionsRemoved); n > 0 {
		fmt.Fprintf(&b, "- Exceptions: %d added, %d changed, %d removed\n", len(e.ExceptionsAdded), len(e.ExceptionsChanged), len(e.ExceptionsRemoved))
	}
	if e.ConfigChanged {
		b.WriteString("- :warning: `patchbay.cue` config changed (needs a policy owner's approval)\n")
	}
	if len(e.Delta) > 0 {
		b.WriteString("\n| Ring | Hosts | Changing | Compliant before → after | Reboots | Package changes |\n|---|--:|--:|---|--:|---|\n")
		for _, d := range e.Delta {
			fmt.Fprintf(&b, "| %s | %d | %d | %d → %d | %d | %s |\n", d.Ring, d.Hosts, d.HostsChanged, d.CompliantBefore, d.CompliantAfter, d.RebootsExpected, escape(packageChanges(d.PackageChanges, 8)))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
