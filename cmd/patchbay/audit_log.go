package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/spf13/cobra"
)

func (a *app) newAuditLogCmd() *cobra.Command {
	var dir, since, ring, branch string
	var all, noCache bool
	var fmtFlag *formatFlag
	cmd := &cobra.Command{
		Use:   "log -C DIR [--since T] [--ring R]",
		Short: "Show the audit trail of the main branch, merge by merge",
		Long: `Log walks the first-parent history of the main branch, newest first, and
shows per merge: the pull request (number and author, from the change.merged
record or GitHub's "Merge pull request #N from AUTHOR/..." message), the
approvers, the gate's result and rule ids, the rollouts per ring with their
outcomes, and the ring verifications. Below the table it lists the operator
actions on credentials (token.changed: token create/revoke, who and why).

Log reads records without checking signatures; run 'patchbay audit verify'
for that.

Log keeps the records it decoded in .git/patchbay/audit-log.cache, keyed by
the tip of refs/notes/patchbay: the next log reads that file instead of
every note, until the notes ref moves (a new record, a fetch), when the
cache is rebuilt. A damaged cache is ignored and rewritten. The cache only
speeds up this display; 'patchbay audit verify' never reads it. --no-cache
reads the notes and leaves the cache alone.

--since takes RFC 3339, YYYY-MM-DD or a duration back from now (72h, 30d);
the walk stops at the first older commit. --ring keeps the changes that
rolled out to, or were verified in, that ring.

Examples:
  patchbay audit log -C .
  patchbay audit log --since 30d --ring prod --format markdown`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := fmtFlag.get()
			if err != nil {
				return err
			}
			from, err := parseSince(since, a.now())
			if err != nil {
				return err
			}
			repo, err := openPatchGit(dir)
			if err != nil {
				return err
			}
			defer repo.Close()
			// Reading the trail builds its whole result at once (about 5 MB
			// per 1,000 records) and drops little: a garbage collection
			// every time the heap doubles from 4 MB costs a fifth of the
			// CPU for a few MB less at the peak.
			defer debug.SetGCPercent(debug.SetGCPercent(400))
			opts := audit.TrailOptions{Branch: branch, Since: from, Ring: ring, All: all, Subjects: format == "json"}
			if dir, ok := audit.DefaultLogCacheDir(repo); ok && !noCache {
				opts.CacheDir = dir
			}
			changes, err := audit.Trail(cmd.Context(), repo, nil, opts)
			if err != nil {
				return err
			}
			switch format {
			case "json":
				return writeLogJSON(a.stdout, branch, changes)
			case "markdown":
				return writeLogMarkdown(a.stdout, changes)
			default:
				return writeLogTable(a.stdout, changes)
			}
		},
	}
	addRepoFlag(cmd, &dir)
	fmtFlag = addFormatFlag(cmd, "table", "json", "markdown")
	cmd.Flags().StringVar(&since, "since", "", "only changes since this time (RFC 3339, YYYY-MM-DD, or 72h / 30d ago)")
	cmd.Flags().StringVar(&ring, "ring", "", "only changes that rolled out to or were verified in this ring")
	cmd.Flags().StringVar(&branch, "branch", "main", "the main branch")
	cmd.Flags().BoolVar(&all, "all", false, "include direct commits without records")
	cmd.Flags().BoolVar(&noCache, "no-cache", false, "read every note; neither use nor write the log cache")
	return cmd
}

// recordRef is a record's identity in JSON output.
type recordRef struct {
	Seq    int64  `json:"seq"`
	Kind   string `json:"kind"`
	Commit string `json:"commit"`
	Digest string `json:"digest"`
}

func refs(recs []*audit.Record) []recordRef {
	out := make([]recordRef, 0, len(recs))
	for _, r := range recs {
		out = append(out, recordRef{Seq: r.Chain.Seq, Kind: string(r.Kind), Commit: r.Commit, Digest: r.Digest})
	}
	return out
}

func writeLogJSON(w io.Writer, branch string, changes []audit.Change) error {
	type change struct {
		audit.Change
		Records []recordRef `json:"records"`
	}
	out := struct {
		Branch  string   `json:"branch"`
		Changes []change `json:"changes"`
	}{Branch: branch, Changes: []change{}}
	for _, c := range changes {
		// Lists are [] when empty, never null, so that consumers can iterate.
		c.Approvers = orEmpty(c.Approvers)
		c.Rollouts = orEmpty(c.Rollouts)
		c.Verifications = orEmpty(c.Verifications)
		c.Exceptions = orEmpty(c.Exceptions)
		c.Tokens = orEmpty(c.Tokens)
		out.Changes = append(out.Changes, change{Change: c, Records: refs(c.Records)})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// row is one change as the table and Markdown forms show it.
type row struct {
	commit, date, pr, author, approvers, gate, rollouts, verified string
}

func rowOf(c audit.Change) row {
	r := row{commit: c.Commit[:12], date: c.Time.Format("2006-01-02 15:04"), pr: "-", author: orDash(c.Author),
		approvers: orDash(strings.Join(c.Approvers, ",")), gate: "-", rollouts: "-", verified: "-"}
	if c.PR > 0 {
		r.pr = fmt.Sprintf("#%d", c.PR)
	}
	if g := c.Gate; g != nil {
		r.gate = g.Result
		var ids []string
		for _, d := range g.Denies {
			ids = append(ids, "deny:"+d)
		}
		for _, w := range g.Warns {
			ids = append(ids, "warn:"+w)
		}
		if len(ids) > 0 {
			r.gate += " (" + strings.Join(ids, ",") + ")"
		}
	}
	var ro []string
	for _, x := range c.Rollouts {
		ro = append(ro, fmt.Sprintf("%s:%s %d/%d", x.Ring, x.Outcome, x.HostsSucceeded, x.HostsTotal))
	}
	if len(ro) > 0 {
		r.rollouts = strings.Join(ro, "; ")
	}
	var vs []string
	for _, v := range c.Verifications {
		vs = append(vs, fmt.Sprintf("%s %.0f%% soak %.1fh", v.Ring, v.SuccessRate*100, v.SoakHours))
	}
	if len(vs) > 0 {
		r.verified = strings.Join(vs, "; ")
	}
	return r
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeLogTable(w io.Writer, changes []audit.Change) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	rows := make([][8]string, 0, len(changes)+1)
	rows = append(rows, [8]string{"COMMIT", "DATE", "PR", "AUTHOR", "APPROVERS", "GATE", "ROLLOUTS", "VERIFIED"})
	for _, c := range changes {
		r := rowOf(c)
		rows = append(rows, [8]string{r.commit, r.date, r.pr, r.author, r.approvers, r.gate, r.rollouts, r.verified})
	}
	if err := writeAligned(bw, rows); err != nil {
		return err
	}
	if ops := tokenLines(changes); len(ops) > 0 {
		fmt.Fprintln(bw, "\nTOKENS (operator actions, newest first)")
		for _, l := range ops {
			fmt.Fprintln(bw, l)
		}
	}
	// Cycle records below the table: one line each would widen its first
	// column.
	for _, c := range changes {
		for _, cy := range c.Cycles {
			fmt.Fprintf(bw, "%s  %s\n", c.Commit[:12], cycleLine(cy))
		}
	}
	return bw.Flush()
}

// writeAligned writes rows as text/tabwriter does with minwidth 0, padding
// 2 and spaces (every column as wide as its widest cell in runes plus two,
// the last one not padded), without tabwriter's per-cell bookkeeping (a
// tenth of a warm 'audit log'). Cells holding characters tabwriter treats
// specially (tab, newline, vertical tab, form feed, its escape byte 0xff)
// go through tabwriter itself.
func writeAligned(w io.Writer, rows [][8]string) error {
	var width [8]int
	for _, r := range rows {
		for i, c := range r {
			if strings.ContainsAny(c, "\t\n\v\f") || strings.IndexByte(c, 0xff) >= 0 {
				return writeTabbed(w, rows)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var line []byte
	for _, r := range rows {
		line = line[:0]
		for i, c := range r[:7] {
			line = append(line, c...)
			for range width[i] + 2 - utf8.RuneCountInString(c) {
				line = append(line, ' ')
			}
		}
		line = append(append(line, r[7]...), '\n')
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return nil
}

func writeTabbed(w io.Writer, rows [][8]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r[:], "\t"))
	}
	return tw.Flush()
}

// tokenLines describes the token.changed records of changes, one line
// each: when, what, by whom, why, and the commit the record is on.
func tokenLines(changes []audit.Change) []string {
	var out []string
	for _, c := range changes {
		for i := len(c.Tokens) - 1; i >= 0; i-- {
			t := c.Tokens[i]
			what := t.Token + " token " + strconvQuote(t.Name)
			switch t.Token {
			case audit.TokenEnroll:
				what = "enrollment token " + t.Name
				if t.Operator.Action == audit.TokenCreate && t.ExpiresAt != nil {
					what += fmt.Sprintf(" (%d uses until %s)", t.Uses, t.ExpiresAt.UTC().Format("2006-01-02 15:04"))
				}
			case audit.TokenHost:
				what = "host " + t.Name + "'s token"
			}
			out = append(out, fmt.Sprintf("%s  %s %s by %s: %s  [on %s]", t.ChangedAt.UTC().Format("2006-01-02 15:04"), t.Operator.Action, what,
				t.Operator.Actor, t.Operator.Reason, c.Commit[:12]))
		}
	}
	return out
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

func writeLogMarkdown(out io.Writer, changes []audit.Change) error {
	w := bufio.NewWriterSize(out, 64<<10)
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	fmt.Fprintln(w, "| Commit | Date | PR | Author | Approvers | Gate | Rollouts | Verified |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, c := range changes {
		r := rowOf(c)
		fmt.Fprintf(w, "| `%s` | %s | %s | %s | %s | %s | %s | %s |\n", r.commit, r.date, r.pr, esc(r.author),
			esc(r.approvers), esc(r.gate), esc(r.rollouts), esc(r.verified))
		for _, cy := range c.Cycles {
			fmt.Fprintf(w, "| | %s | | | | | | |\n", esc(cycleLine(cy)))
		}
	}
	if len(changes) == 0 {
		fmt.Fprintln(w, "\n_No changes._")
	}
	if ops := tokenLines(changes); len(ops) > 0 {
		fmt.Fprintln(w, "\n**Tokens** (operator actions, newest first)")
		fmt.Fprintln(w)
		for _, l := range ops {
			fmt.Fprintln(w, "- "+l)
		}
	}
	return w.Flush()
}

// cycleLine says what one cycle.proposal record did, on one line.
func cycleLine(c audit.CycleProposal) string {
	s := fmt.Sprintf("cycle %s %s: %s", c.Cycle, c.Period, c.Outcome)
	switch c.Outcome {
	case audit.CycleOpened, audit.CycleExisting:
		s += fmt.Sprintf(" #%d baseline %s (%s, %d rules", c.PR, c.BaselineID, c.Mode, c.Rules)
		if len(c.KEV) > 0 {
			s += ", KEV " + strings.Join(c.KEV, ",")
		}
		s += ")"
		if c.Late {
			s += " LATE"
		}
	case audit.CycleFailed:
		s += ": " + c.Error
	}
	return s
}
