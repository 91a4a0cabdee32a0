package main

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/plural"
	"github.com/patchbay/patchbay/engine/render"
)

func (a *app) newPlanCmd() *cobra.Command {
	var (
		dir, inv, ring, host string
		exitCode             bool
		maxFindings          int
		timing, fresh        bool
		cache                string
	)
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Compare the desired patch state with host reports",
		Long: `Plan compares every host report with the rules of the baseline its ring
pins and shows, per host and rule, a compliance state (INSTALLED,
INSTALLED_OTHER, INSTALLED_PENDING_REBOOT, MISSING, BLOCKED_VERSION, HELD,
EXCEPTED, NOT_APPLICABLE), the actions that would fix it, a risk score and
the SLA deadline, with roll-ups per ring, per stream and for the fleet.

--inventory takes a report file (.json), a JSON-lines file (one report per
line), a bulk inventory file (patchbay inventory convert --out; the fastest
to read, recognised by its header), or a directory of them. Formats: table (a terminal summary), json
(the full plan; schema in engine/plan), markdown (a pull-request comment that
stays under GitHub's 65,536-character limit).

Exit status: 0, or with --exit-code 0 compliant and 1 not; 2 usage.`,
		Example: `  patchbay plan -C examples/quickstart --inventory examples/quickstart/inventory --now 2026-11-26T00:00:00Z
  patchbay plan -C . --inventory fleet.jsonl --ring canary --format json
  patchbay plan -C . --inventory fleet.jsonl --format markdown > comment.md
  patchbay plan -C . --inventory reports/ --exit-code   # fail CI while anything is open
  patchbay inventory convert --out fleet.pbinv fleet.jsonl && patchbay plan -C . --inventory fleet.pbinv --format json`,
		Args: noArgs,
	}
	addRepoFlag(cmd, &dir)
	cmd.Flags().StringVar(&inv, "inventory", "", "host reports: a .json file, a JSON-lines file, a bulk .pbinv file or a directory (required)")
	cmd.Flags().StringVar(&ring, "ring", "", "only hosts of this ring")
	cmd.Flags().StringVar(&host, "host", "", "only this host")
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "exit 1 when any host in scope is not compliant")
	cmd.Flags().IntVar(&maxFindings, "max-findings", 20, "findings shown by the table format (0 = all)")
	cmd.Flags().BoolVar(&timing, "timing", false, "print the time spent decoding, planning and rendering to stderr")
	cmd.Flags().BoolVar(&fresh, "fresh", false, "raise rules' kev and severity from the advisory cache (see patchbay advisories sync); the plan names the source")
	cmd.Flags().StringVar(&cache, "cache", "", "advisory cache for --fresh (default: .patchbay/advisories in the patch repository)")
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
		if inv == "" {
			return usageError("--inventory is required (a report file, a JSON-lines file or a directory)")
		}
		repo, err := a.loadRepo(cmd, dir, t)
		if err != nil {
			return err
		}
		if ring != "" && repo.Ring(ring) == nil {
			return usageError("--ring %q: no such ring (rings: %s)", ring, ringNames(repo))
		}
		if fresh {
			if repo, err = a.refreshRepo(cmd, repo, dir, cache); err != nil {
				return err
			}
		}
		start := time.Now()
		var reports []*inventory.Report
		dec := &inventory.Decoder{Cache: inventory.NewSetCache(), Workers: runtime.GOMAXPROCS(0)}
		if err := inventory.ReadPath(cmd.Context(), inv, dec, func(r *inventory.Report) error {
			reports = append(reports, r)
			return nil
		}); err != nil {
			return err
		}
		decoded := time.Now()
		p := plan.Compute(plan.Input{Repo: repo, Reports: reports, Now: t}, plan.Options{Ring: ring, Host: host})
		planned := time.Now()
		if host != "" && p.Hosts.Len() == 0 {
			return fmt.Errorf("--host %q: no report for that host in %s", host, inv)
		}
		switch f {
		case "json":
			err = render.PlanJSON(a.stdout, p)
		case "markdown":
			err = render.PlanMarkdown(a.stdout, p, render.CommentLimit)
		default:
			err = render.PlanText(a.stdout, p, maxFindings)
		}
		if err != nil {
			return err
		}
		staleNote(a.stderr, repo, reports, p, t)
		if timing {
			fmt.Fprintf(a.stderr, "timing: %d reports, %d distinct computations; decode %s, plan %s, render %s\n",
				len(reports), p.Stats.Computations, decoded.Sub(start).Round(time.Millisecond), planned.Sub(decoded).Round(time.Millisecond), time.Since(planned).Round(time.Millisecond))
		}
		if exitCode && p.Fleet.ByStatus[plan.Compliant] != p.Fleet.Hosts {
			return errFindings
		}
		return nil
	}
	return cmd
}

// loadRepo loads and validates the patch repository, printing every problem
// when it is invalid.
func (a *app) loadRepo(cmd *cobra.Command, dir string, now time.Time) (*baseline.Repository, error) {
	repo, err := baseline.LoadDir(cmd.Context(), dir, baseline.Options{Now: now})
	var verrs baseline.Errors
	if errors.As(err, &verrs) {
		for _, e := range verrs {
			fmt.Fprintln(a.stderr, e.String())
		}
		return nil, fmt.Errorf("%s is not a valid patch repository (%s; run patchbay validate -C %s)", dir, plural.Count(len(verrs), "problem"), dir)
	}
	return repo, err
}

// staleNote says so when every report is older than staleAfter: then every
// host is STALE and the plan shows nothing else, which is what an example
// inventory looks like some days after it was collected. The note names the
// --now that shows the plan as of the newest report.
func staleNote(w io.Writer, repo *baseline.Repository, reports []*inventory.Report, p *plan.Plan, now time.Time) {
	if len(reports) == 0 || p.Fleet.ByStatus[plan.Stale] != p.Fleet.Hosts {
		return
	}
	var newest time.Time
	for _, r := range reports {
		if r.CollectedAt.After(newest) {
			newest = r.CollectedAt
		}
	}
	staleAfter := time.Duration(repo.Config.Reports.StaleAfter)
	if !now.After(newest.Add(staleAfter)) {
		return
	}
	fmt.Fprintf(w, "note: all %s older than reports.staleAfter (%s) at %s, so every host is STALE.\n"+
		"      To see the plan as of their collection, add: --now %s\n",
		plural.Count(len(reports), "report")+" "+plural.Verb(len(reports), "is", "are"), repo.Config.Reports.StaleAfter,
		now.Format(time.RFC3339), newest.UTC().Add(time.Hour).Truncate(time.Hour).Format(time.RFC3339))
}

func ringNames(r *baseline.Repository) string {
	s := ""
	for i, g := range r.Rings {
		if i > 0 {
			s += ", "
		}
		s += g.Name
	}
	return s
}
