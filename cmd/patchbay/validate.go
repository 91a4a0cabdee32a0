package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/change"
	"github.com/patchbay/patchbay/engine/plural"
)

func (a *app) newValidateCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check a patch repository against the schemas and cross-checks",
		Long: `Validate loads the patch repository (patchbay.cue, baselines/, rings/,
exceptions/), checks it against patchbay's CUE schemas and its cross-checks
(rings pin existing baselines, streams are declared, host selectors do not
overlap, exceptions name existing rules and have not expired), and lists every
problem as file:line:col: path: message, sorted. File names are relative
to the repository root (-C). Errors in one entity never hide those in
another; what depends on an entity with errors is checked once that entity is
fixed, and says so.

Exit status: 0 valid, 1 invalid, 2 usage.`,
		Example: `  patchbay validate -C examples/quickstart
  patchbay validate --format json
  patchbay validate --now 2027-03-01T00:00:00Z   # would the exceptions have expired?`,
		Args: noArgs,
	}
	addRepoFlag(cmd, &dir)
	format := addFormatFlag(cmd, "text", "json")
	now := addNowFlag(cmd)
	sb := addSandboxFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f, err := format.get()
		if err != nil {
			return err
		}
		t, err := now.get(a)
		if err != nil {
			return err
		}
		ev, err := sb.evaluator()
		if err != nil {
			return err
		}
		repo, err := ev.LoadDir(cmd.Context(), dir, t)
		var verrs baseline.Errors
		var le *change.LimitError
		if errors.As(err, &le) {
			verrs = baseline.Errors{{Message: err.Error()}}
		} else if err != nil && !errors.As(err, &verrs) {
			return err
		}
		if f == "json" {
			out := struct {
				Valid  bool             `json:"valid"`
				Errors []baseline.Error `json:"errors"`
				Repo   *summary         `json:"summary,omitempty"`
			}{Valid: len(verrs) == 0, Errors: verrs, Repo: summarize(repo, len(verrs))}
			if out.Errors == nil {
				out.Errors = []baseline.Error{}
			}
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(out); err != nil {
				return err
			}
		} else {
			for _, e := range verrs {
				fmt.Fprintln(a.stdout, e.String())
			}
			if len(verrs) > 0 {
				fmt.Fprintf(a.stderr, "%s in %s\n", plural.Count(len(verrs), "problem"), dir)
			} else {
				s := summarize(repo, 0)
				fmt.Fprintf(a.stdout, "ok: %s, %s, %s, %s\n", plural.Count(*s.Baselines, "baseline"), plural.Count(*s.Rings, "ring"),
					plural.Count(*s.Exceptions, "exception"), plural.Count(*s.Streams, "stream"))
			}
		}
		if len(verrs) > 0 {
			return errFindings
		}
		return nil
	}
	return cmd
}

// summary is validate's JSON summary: the number of problems, and when the
// repository is valid what it holds (an invalid repository is not decoded,
// so its counts would mislead).
type summary struct {
	Problems   int  `json:"problems"`
	Baselines  *int `json:"baselines,omitempty"`
	Rings      *int `json:"rings,omitempty"`
	Exceptions *int `json:"exceptions,omitempty"`
	Streams    *int `json:"streams,omitempty"`
}

func summarize(r *baseline.Repository, problems int) *summary {
	s := &summary{Problems: problems}
	if r == nil {
		return s
	}
	n := func(i int) *int { return &i }
	s.Baselines, s.Rings, s.Exceptions, s.Streams = n(len(r.Baselines)), n(len(r.Rings)), n(len(r.Exceptions)), n(len(r.Config.Streams))
	return s
}
