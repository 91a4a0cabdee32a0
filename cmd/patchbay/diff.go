package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/gitrepo"
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
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f, err := format.get()
		if err != nil {
			return err
		}
		t, err := now.get(a)
		if err != nil {
			return err
		}
		if base == "" {
			return usageError("--base is required (the revision the change starts from, e.g. origin/main)")
		}
		e, err := a.effect(cmd.Context(), dir, base, head, inv, t)
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

// changeModels holds both sides of a change.
type changeModels struct {
	repo             *gitrepo.Repo
	baseRev, headRev gitrepo.Hash
	base, head       *baseline.Repository
	changed          []string
}

// loadChange opens the Git repository at dir and loads the patch repository
// at both revisions.
func (a *app) loadChange(ctx context.Context, dir, base, head string, now time.Time) (*changeModels, error) {
	repo, err := gitrepo.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w (diff and gate read a Git repository)", dir, err)
	}
	m := &changeModels{repo: repo}
	if m.baseRev, err = repo.Resolve(base); err != nil {
		return nil, usageError("--base %q: %v", base, err)
	}
	if m.headRev, err = repo.Resolve(head); err != nil {
		return nil, usageError("--head %q: %v", head, err)
	}
	load := func(rev gitrepo.Hash, side string) (*baseline.Repository, error) {
		tree, err := repo.TreeFS(rev)
		if err != nil {
			return nil, err
		}
		r, err := baseline.Load(ctx, fs.FS(tree), baseline.Options{Now: now})
		if verrs, ok := err.(baseline.Errors); ok {
			for _, e := range verrs {
				fmt.Fprintf(a.stderr, "%s (at %s %s)\n", e.String(), side, rev.String()[:12])
			}
			return nil, fmt.Errorf("the patch repository at %s %s is invalid (%d problems)", side, rev.String()[:12], len(verrs))
		}
		return r, err
	}
	if m.base, err = load(m.baseRev, "base"); err != nil {
		return nil, err
	}
	if m.head, err = load(m.headRev, "head"); err != nil {
		return nil, err
	}
	if m.changed, err = repo.ChangedPaths(ctx, m.baseRev, m.headRev); err != nil {
		return nil, err
	}
	return m, nil
}

func (a *app) effect(ctx context.Context, dir, base, head, inv string, now time.Time) (*plan.Effect, error) {
	m, err := a.loadChange(ctx, dir, base, head, now)
	if err != nil {
		return nil, err
	}
	defer m.repo.Close()
	in := plan.EffectInput{Base: m.base, Head: m.head, BaseRev: m.baseRev.String(), HeadRev: m.headRev.String(), ChangedFiles: m.changed, Now: now}
	if inv != "" {
		dec := &inventory.Decoder{Cache: inventory.NewSetCache()}
		if err := inventory.ReadPath(ctx, inv, dec, func(r *inventory.Report) error {
			in.Reports = append(in.Reports, r)
			return nil
		}); err != nil {
			return nil, err
		}
		in.IncludePlanDelta = true
	}
	return plan.ComputeEffect(in), nil
}
