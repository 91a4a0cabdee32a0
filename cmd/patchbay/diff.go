package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/change"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/render"
)

func (a *app) newDiffCmd() *cobra.Command {
	var dir, base, head, inv string
	cmd := &cobra.Command{
		Use:   "diff",
		Short: "Show what a change of the patch repository does",
		Long: `Diff compares the patch repository at two commits and reports what the change
does: baselines added or changed (digest before → after; changing a baseline
a ring pins at base is flagged as an immutability violation), rings moved
(ring: baseline A → B), other ring, exception and config changes, and, with
--inventory, the plan delta per ring (hosts that will change, package
changes, reboots expected). The effect digest printed first is what
approvals and rollouts are bound to.

Exit status: 0 ok, 1 the head commit is invalid or an error, 2 usage.`,
		Example: `  patchbay diff -C . --base origin/main
  patchbay diff -C . --base main --head HEAD --inventory fleet.jsonl --format markdown`,
		Args: noArgs,
	}
	addRepoFlag(cmd, &dir)
	cmd.Flags().StringVar(&base, "base", "", "base revision (required)")
	cmd.Flags().StringVar(&head, "head", "HEAD", "head revision")
	cmd.Flags().StringVar(&inv, "inventory", "", "host reports for the plan delta (file, JSON lines or directory)")
	format := addFormatFlag(cmd, "text", "json", "markdown")
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
		if base == "" {
			return usageError("--base is required (the revision the change starts from, e.g. origin/main)")
		}
		e, err := a.effect(cmd.Context(), ev, dir, base, head, inv, t)
		if err != nil {
			return err
		}
		switch f {
		case "json":
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(e)
		case "markdown":
			return render.EffectMarkdown(a.stdout, e)
		}
		return render.EffectText(a.stdout, e)
	}
	return cmd
}

func (a *app) effect(ctx context.Context, ev *change.Evaluator, dir, base, head, inv string, now time.Time) (*plan.Effect, error) {
	repo, err := openPatchGit(dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w (diff reads a Git repository)", dir, err)
	}
	defer repo.Close()
	req := change.Request{Repo: repo, Base: base, Head: head, Now: now}
	if inv != "" {
		dec := &inventory.Decoder{Cache: inventory.NewSetCache(), Workers: runtime.GOMAXPROCS(0)}
		if err := inventory.ReadPath(ctx, inv, dec, func(r *inventory.Report) error {
			req.Reports = append(req.Reports, r)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	res, err := ev.Load(ctx, req)
	if a.printSideErrors(err) {
		return nil, err
	}
	if err != nil {
		if strings.HasPrefix(err.Error(), "resolve ") {
			return nil, usageError("%v", err)
		}
		return nil, err
	}
	return res.Effect, nil
}

// printSideErrors lists the problems of a base or head commit that does not
// validate, one per line with the side and commit, and reports whether err
// was such an error.
func (a *app) printSideErrors(err error) bool {
	var side *change.SideError
	if !errors.As(err, &side) {
		return false
	}
	for _, e := range side.Errors {
		fmt.Fprintf(a.stderr, "%s (at %s %s)\n", e.String(), side.Side, side.Commit[:12])
	}
	return true
}
