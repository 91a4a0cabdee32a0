package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/fleet"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/examples"
)

func (a *app) newDevCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:    "dev",
		Short:  "Tools for developing and measuring patchbay",
		Hidden: true,
		Args:   noArgs,
	}
	cmd.AddCommand(a.newGenFleetCmd(), a.newBenchGateCmd())
	return cmd
}

func (a *app) newGenFleetCmd() *cobra.Command {
	var (
		dir, out      string
		format        string
		hosts, sets   int
		packages      int
		seed          uint64
		stale, reboot float64
	)
	cmd := &cobra.Command{
		Use:   "gen-fleet",
		Short: "Generate a synthetic fleet of host reports (JSON lines)",
		Long: `gen-fleet writes --hosts reports over --distinct-sets package sets as JSON
lines, for benchmarks and demos. Package lists are derived from the real ones
of the example inventory: versions of the packages the repository's rules
name are set below, at, above or onto a blocked version of the rule; lists
are padded to --packages with copies of real packages under derived names.
Hosts get the label selectors of the rings (5% first ring, 20% second, the
rest last); some are stale, some need a reboot, a few are unassigned.
--format bulk (the default for an --out ending in .pbinv) writes the bulk
inventory format instead (see patchbay inventory convert --out).`,
		Example: `  patchbay dev gen-fleet --hosts 10000 --distinct-sets 10000 --out fleet.jsonl
  patchbay plan -C examples/quickstart --inventory fleet.jsonl
  patchbay dev gen-fleet --hosts 10000 --distinct-sets 10000 --packages 2000 --out fleet.pbinv`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError("--out is required")
			}
			if format == "" && strings.HasSuffix(out, inventory.BulkExt) {
				format = "bulk"
			}
			if format != "" && format != "jsonl" && format != "bulk" {
				return usageError("--format %q: want jsonl or bulk", format)
			}
			if hosts <= 0 || sets <= 0 || sets > hosts {
				return usageError("--hosts and --distinct-sets must be positive, with distinct sets ≤ hosts")
			}
			now := a.now().UTC()
			repo, seeds, err := a.fleetSources(cmd.Context(), dir, now)
			if err != nil {
				return err
			}
			opts := fleet.DefaultOptions(hosts, sets, now)
			opts.Packages, opts.Seed, opts.StaleFraction, opts.RebootFraction = packages, seed, stale, reboot
			start := time.Now()
			reports, err := fleet.Generate(repo, seeds, opts)
			if err != nil {
				return err
			}
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			if format == "bulk" {
				if err := inventory.WriteBulk(f, reports); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "gen-fleet: wrote %d reports over %d package sets to %s (bulk) in %s\n", len(reports), sets, out, time.Since(start).Round(time.Millisecond))
				return nil
			}
			w := bufio.NewWriterSize(f, 1<<20)
			for i, r := range reports {
				b, err := json.Marshal(r)
				if err != nil {
					f.Close()
					return err
				}
				w.Write(b)
				w.WriteByte('\n')
				if (i+1)%10000 == 0 {
					fmt.Fprintf(a.stderr, "gen-fleet: %d/%d reports\n", i+1, len(reports))
				}
			}
			if err := w.Flush(); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "gen-fleet: wrote %d reports over %d package sets to %s in %s\n", len(reports), sets, out, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVarP(&dir, "dir", "C", "", "patch repository whose rules shape the fleet (default: the bundled quickstart)")
	cmd.Flags().StringVar(&out, "out", "", "output file (JSON lines, or bulk for a name ending in .pbinv)")
	cmd.Flags().StringVar(&format, "format", "", "jsonl or bulk (default: bulk when --out ends in .pbinv, else jsonl)")
	cmd.Flags().IntVar(&hosts, "hosts", 1000, "number of hosts")
	cmd.Flags().IntVar(&sets, "distinct-sets", 100, "number of distinct package sets")
	cmd.Flags().IntVar(&packages, "packages", 0, "pad package lists to this size (0: the real lists' size)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed (the same seed gives the same fleet)")
	cmd.Flags().Float64Var(&stale, "stale", 0.02, "fraction of stale hosts")
	cmd.Flags().Float64Var(&reboot, "reboot", 0.05, "fraction of hosts with a pending reboot")
	return cmd
}

// fleetSources loads the repository (the bundled quickstart when dir is
// empty) and the seed reports of the bundled example inventory.
func (a *app) fleetSources(ctx context.Context, dir string, now time.Time) (*baseline.Repository, []*inventory.Report, error) {
	qs, err := fs.Sub(examples.Quickstart, "quickstart")
	if err != nil {
		return nil, nil, err
	}
	var repo *baseline.Repository
	if dir == "" {
		repo, err = baseline.Load(ctx, qs, baseline.Options{Now: now})
	} else {
		repo, err = baseline.LoadDir(ctx, dir, baseline.Options{Now: now})
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load patch repository: %w", err)
	}
	var seeds []*inventory.Report
	for _, id := range []string{"deb12-canary-01", "ubuntu-canary-01", "rhel9-canary-01", "alpine-canary-01"} {
		b, err := fs.ReadFile(qs, path.Join("inventory", id+".json"))
		if err != nil {
			return nil, nil, err
		}
		r, err := inventory.Decode(b)
		if err != nil {
			return nil, nil, fmt.Errorf("seed %s: %w", id, err)
		}
		seeds = append(seeds, r)
	}
	return repo, seeds, nil
}
