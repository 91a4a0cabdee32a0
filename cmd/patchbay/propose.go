package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	gh "github.com/google/go-github/v60/github"
	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/advisory"
	"github.com/patchbay/patchbay/engine/cycle"
	"github.com/patchbay/patchbay/engine/github"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/render"
)

func (a *app) newProposeCmd() *cobra.Command {
	var (
		dir, cache, inv, since, id, base string
		minRisk                          float64
		streams                          []string
		nextCycle, dryRun, openPR        bool
		into                             string
		gf                               githubFlags
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
would do, the plan delta if the first ring pinned it.

--pr opens that pull request on GitHub: through the Git Data API it commits
the baseline file on top of the head of the base branch (--into, default
config.mainBranch) on the branch patchbay/propose/<id>, and opens the pull
request with the body above; the normal review and gate follow. Nothing is
pushed from the checkout, so a GitHub App installation token (contents and
pull-requests: write) is enough. Run it on an up-to-date checkout of the base
branch: the proposal is computed from the checkout, the commit is made on
GitHub's branch head. A second run for the same id finds the open pull
request instead of opening another. The repository, token or App and API URL
are taken as by "patchbay github comment" (--repo/$GITHUB_REPOSITORY,
--token/$GITHUB_TOKEN, --api-url/$GITHUB_API_URL).

Exit status: 0 written (and opened), 1 nothing to propose, 2 usage.`,
		Example: `  patchbay propose -C . --inventory reports/
  patchbay propose -C . --inventory fleet.jsonl --min-risk 40 --stream debian-12 --stream ubuntu-24.04
  patchbay propose -C . --inventory reports/ --since 2026-11-01 --format markdown > pr-body.md
  patchbay propose -C . --inventory reports/ --dry-run --format json
  GITHUB_TOKEN=... patchbay propose -C . --inventory reports/ --pr --repo infra/patches`,
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
	cmd.Flags().BoolVar(&openPR, "pr", false, "open the pull request on GitHub (branch patchbay/propose/<id>)")
	cmd.Flags().StringVar(&into, "into", "", "with --pr: the branch the pull request merges into (default config.mainBranch)")
	gf.add(cmd)
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
		if openPR && dryRun {
			return usageError("--pr opens a pull request with the written baseline; it cannot be combined with --dry-run")
		}
		var (
			owner, name string
			client      *gh.Client
		)
		if openPR {
			if owner, name, client, err = gf.client(a); err != nil {
				return err
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
		var opened *github.Opened
		if openPR {
			var body bytes.Buffer
			if err := render.ProposalMarkdown(&body, p, m.ranked, delta); err != nil {
				return err
			}
			if into == "" {
				into = m.repo.Config.MainBranch
			}
			if opened, err = github.OpenProposal(cmd.Context(), client, github.Proposal{
				Owner: owner, Repo: name, Base: into, Branch: "patchbay/propose/" + p.ID,
				Files:   map[string][]byte{p.File: p.Source},
				Message: fmt.Sprintf("propose baseline %s (%d rules)\n\nWritten by patchbay propose from the advisories that apply to the fleet.", p.ID, len(p.Covered)),
				Title:   fmt.Sprintf("patchbay propose: baseline %s (%d rules)", p.ID, len(p.Covered)),
				Body:    body.String(),
			}); err != nil {
				return fmt.Errorf("open the pull request (the baseline is written at %s): %w", path, err)
			}
		}
		switch f {
		case "json":
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"proposal": p, "cue": string(p.Source), "written": !dryRun, "pullRequest": opened})
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
		switch {
		case opened != nil && opened.Existing:
			fmt.Fprintf(a.stdout, "pull request #%d already open from %s: %s (nothing new committed)\n", opened.Number, opened.Branch, opened.URL)
		case opened != nil:
			fmt.Fprintf(a.stdout, "opened pull request #%d from %s into %s: %s\n", opened.Number, opened.Branch, into, opened.URL)
		case !dryRun:
			fmt.Fprintf(a.stdout, "next: patchbay validate -C %s, pin %s in the first ring, open the pull request (or run with --pr)\n", dir, p.ID)
		}
		return nil
	}
	return cmd
}
