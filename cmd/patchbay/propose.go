package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/advisory"
	"github.com/patchbay/patchbay/engine/cycle"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/render"
)

func (a *app) newProposeCmd() *cobra.Command {
	var (
		dir, cache, inv, since, id, base string
		minRisk                          float64
		streams                          []string
		nextCycle, dryRun                bool
	)
	cmd := &cobra.Command{
		Use:   "propose",
		Short: "Write the fixes for matched advisories as a new baseline",
		Long: `propose matches the host reports against the cached advisory feeds (as
"patchbay advisories match" does) and writes a new baseline,
baselines/<id>.cue, whose rules are floors (min) at the distributions' fixed
versions, with the advisories' severity, KEV flag, publication date and ids.

By default the baseline is a hotfix that extends the newest baseline. CUE
unification cannot change a rule the base already has, so when a floor must
rise above an existing one (or with --next-cycle) the proposal is a
standalone next-cycle baseline holding every rule of the base with the floors
raised. The summary says what is covered and what is left out: no fix
available yet, will not fix, excepted, below --min-risk, published before
--since, module-stream fixes (to write by hand), already required.

The file is formatted CUE that "patchbay validate" accepts; review it, pin it
in a ring and open the pull request as usual. --format markdown prints the
pull-request body: the ranked list, the rules and, to show what pinning it
would do, the plan delta if the first ring pinned it.`,
		Example: `  patchbay propose -C . --inventory reports/
  patchbay propose -C . --inventory fleet.jsonl --min-risk 40 --stream debian-12 --stream ubuntu-24.04
  patchbay propose -C . --inventory reports/ --since 2026-11-01 --format markdown > pr-body.md
  patchbay propose -C . --inventory reports/ --dry-run --format json`,
		Args: noArgs,
	}
	addRepoFlag(cmd, &dir)
	cmd.Flags().StringVar(&cache, "cache", "", "advisory cache directory (default: .patchbay/advisories in the patch repository)")
	cmd.Flags().StringVar(&inv, "inventory", "", "host reports: a .json file, a JSON-lines file or a directory (required)")
	cmd.Flags().StringVar(&since, "since", "", "leave out advisories published before this date (YYYY-MM-DD)")
	cmd.Flags().Float64Var(&minRisk, "min-risk", 0, "leave out advisories scoring below this (0-100; KEV entries are always kept)")
	cmd.Flags().StringArrayVar(&streams, "stream", nil, "only these host streams (repeatable)")
	cmd.Flags().StringVar(&id, "id", "", "the new baseline's id (default: <date>-advisories)")
	cmd.Flags().StringVar(&base, "base", "", "the baseline to build on (default: the newest)")
	cmd.Flags().BoolVar(&nextCycle, "next-cycle", false, "write a standalone next-cycle baseline instead of a hotfix")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the baseline instead of writing it")
	format := addFormatFlag(cmd, "table", "json", "markdown")
	now := addNowFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f, err := format.get()
		if err != nil {
			return err
		}
		t, err := now.get(a)
		if err != nil {
			return err
		}
		var sinceT time.Time
		if since != "" {
			if sinceT, err = time.Parse(time.DateOnly, since); err != nil {
				return usageError("--since %q: want YYYY-MM-DD", since)
			}
		}
		m, err := a.matchFleet(cmd, dir, cache, inv, t)
		if err != nil {
			return err
		}
		p, err := advisory.Propose(m.ranked, advisory.ProposeOptions{Repo: m.repo, Now: t, ID: id, Base: base, Since: sinceT, MinRisk: minRisk, Streams: streams, NextCycle: nextCycle})
		if err != nil {
			return err
		}
		path := filepath.Join(dir, filepath.FromSlash(p.File))
		var delta *plan.Effect
		if !dryRun {
			if err := os.WriteFile(path, p.Source, 0o644); err != nil {
				return err
			}
			head, err := a.loadRepo(cmd, dir, t)
			if err != nil {
				_ = os.Remove(path)
				return fmt.Errorf("the proposed baseline does not validate (removed %s): %w", path, err)
			}
			delta = cycle.PinnedDelta(m.repo, head, p.ID, m.reports, t)
		}
		switch f {
		case "json":
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"proposal": p, "cue": string(p.Source), "written": !dryRun})
		case "markdown":
			return render.ProposalMarkdown(a.stdout, p, m.ranked, delta)
		}
		if dryRun {
			a.stdout.Write(p.Source)
			fmt.Fprintln(a.stdout)
		} else {
			fmt.Fprintf(a.stdout, "wrote %s (%s of %s)\n", path, p.Mode, p.Base)
		}
		fmt.Fprintf(a.stdout, "covered: %d rules\n", len(p.Covered))
		for _, c := range p.Covered {
			kev := ""
			if c.KEV {
				kev = " KEV"
			}
			fmt.Fprintf(a.stdout, "  %s %s %s ≥ %s [%s%s] %d hosts: %v\n", c.Stream, c.Kind, c.Package, c.Min, c.Severity, kev, c.Hosts, c.Advisories)
		}
		fmt.Fprintf(a.stdout, "left out: %d\n", len(p.LeftOut))
		for _, l := range p.LeftOut {
			where := ""
			if l.Package != "" {
				where = " " + l.Stream + " " + l.Package
			}
			fmt.Fprintf(a.stdout, "  %s%s: %s\n", l.Advisory, where, l.Reason)
		}
		if !dryRun {
			fmt.Fprintf(a.stdout, "next: patchbay validate -C %s, pin %s in the first ring, open the pull request\n", dir, p.ID)
		}
		return nil
	}
	return cmd
}
