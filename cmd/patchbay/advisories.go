package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/advisory"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/render"
)

func (a *app) newAdvisoriesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "advisories",
		Short: "Fetch security advisories and match them to the fleet",
		Long: `advisories reads the distributions' own security feeds (OSV records, the
Debian security tracker, Alpine secdb) with the CISA KEV catalogue and FIRST
EPSS scores, and tells which advisories apply to which hosts, ranked by risk.

  sync    fetch the feeds named in config.advisories into the cache
  match   judge every host report against the cached feeds`,
		Args: noArgs,
	}
	cmd.AddCommand(a.newAdvisoriesSyncCmd(), a.newAdvisoriesMatchCmd())
	return cmd
}

// cacheDir resolves --cache: by default .patchbay/advisories in the patch
// repository, with a .gitignore so that the cache never lands in a commit.
func cacheDir(repoDir, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	root := filepath.Join(repoDir, ".patchbay")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	ign := filepath.Join(root, ".gitignore")
	if _, err := os.Stat(ign); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(ign, []byte("# patchbay's local caches; never committed\n*\n"), 0o644); err != nil {
			return "", err
		}
	}
	return filepath.Join(root, "advisories"), nil
}

func (a *app) newAdvisoriesSyncCmd() *cobra.Command {
	var (
		dir, cache string
		offline    bool
		from       []string
	)
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Fetch the configured advisory feeds into the local cache",
		Long: `sync fetches every feed of config.advisories (URLs per host stream, kev, epss)
into the cache with conditional requests (ETag / Last-Modified), so an
unchanged feed costs one small request. gzip and zip downloads are unpacked
when read. A download replaces the cached copy only once it arrived whole
and parsed: a truncated or malformed one leaves the previous copy in place.

--from imports feed files or directories instead (recognised by content:
OSV records, tracker JSON, secdb JSON/YAML, KEV JSON, EPSS CSV); an
air-gapped site copies the cache directory or imports the files.
--offline fetches nothing and lists what the cache holds.`,
		Example: `  patchbay advisories sync -C .
  patchbay advisories sync --from feeds/debian-tracker.json --from feeds/osv/
  patchbay advisories sync --offline --cache /srv/patchbay/advisories`,
		Args: noArgs,
	}
	addRepoFlag(cmd, &dir)
	cmd.Flags().StringVar(&cache, "cache", "", "cache directory (default: .patchbay/advisories in the patch repository)")
	cmd.Flags().BoolVar(&offline, "offline", false, "fetch nothing; list the cache")
	cmd.Flags().StringArrayVar(&from, "from", nil, "import a feed file or directory (repeatable)")
	format := addFormatFlag(cmd, "table", "json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f, err := format.get()
		if err != nil {
			return err
		}
		cdir, err := cacheDir(dir, cache)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(cdir, 0o755); err != nil {
			return err
		}
		var results []advisory.SyncResult
		switch {
		case len(from) > 0:
			for _, p := range from {
				r, err := advisory.Import(cmd.Context(), cdir, p)
				results = append(results, r...)
				if err != nil {
					return err
				}
			}
		case offline:
		default:
			repo, err := a.loadRepo(cmd, dir, a.now())
			if err != nil {
				return err
			}
			feeds := repo.Config.Advisories
			if feeds == nil {
				return usageError("%s/patchbay.cue has no config.advisories; add feed URLs there, or use --from FILE|DIR", dir)
			}
			opts := advisory.SyncOptions{Progress: a.progress()}
			if feeds.MaxMiB > 0 {
				opts.MaxBytes = int64(feeds.MaxMiB) << 20
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Minute)
			defer cancel()
			results, err = advisory.Sync(ctx, cdir, advisory.Sources(feeds.Streams, feeds.KEV, feeds.EPSS), opts)
			if err != nil {
				a.printSync(results, f)
				return err
			}
		}
		db, err := advisory.LoadDir(cmd.Context(), cdir, false)
		if err != nil {
			return fmt.Errorf("the cache %s does not read: %w", cdir, err)
		}
		if f == "json" {
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"cache": cdir, "results": results, "files": db.Files, "advisories": len(db.Advisories)})
		}
		a.printSync(results, f)
		fmt.Fprintf(a.stdout, "cache %s: %d files, %d advisories, KEV %s, EPSS %s\n", cdir, len(db.Files), len(db.Advisories), kevLabel(db.KEV), epssLabel(db.EPSS))
		return nil
	}
	return cmd
}

func (a *app) printSync(results []advisory.SyncResult, format string) {
	if format == "json" {
		return
	}
	for _, r := range results {
		fmt.Fprintf(a.stdout, "%-13s %-40s %10d bytes  %s\n", r.Status, r.Name, r.Bytes, r.URL)
	}
}

// progress prints download progress to stderr for downloads over 1 MiB:
// one line rewritten on a terminal, a line per 10% otherwise.
func (a *app) progress() func(string, int64, int64) {
	tty := isTerminal(a.stderr)
	lastPct := map[string]int64{}
	return func(name string, done, total int64) {
		if total >= 0 && total < 1<<20 {
			return
		}
		mib := func(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
		if tty {
			if total > 0 {
				fmt.Fprintf(a.stderr, "\r%s %s / %s (%d%%)  ", name, mib(done), mib(total), done*100/total)
			} else {
				fmt.Fprintf(a.stderr, "\r%s %s  ", name, mib(done))
			}
			if done == total {
				fmt.Fprintln(a.stderr)
			}
			return
		}
		if total > 0 {
			pct := done * 100 / total
			if pct/10 > lastPct[name]/10 || done == total {
				lastPct[name] = pct
				fmt.Fprintf(a.stderr, "%s: %s of %s (%d%%)\n", name, mib(done), mib(total), pct)
			}
		}
	}
}

func kevLabel(k *advisory.KEV) string {
	if k == nil {
		return "none"
	}
	return fmt.Sprintf("%s (%d entries)", k.CatalogVersion, len(k.Entries))
}

func epssLabel(e *advisory.EPSS) string {
	if e == nil {
		return "none"
	}
	d := "undated"
	if !e.ScoreDate.IsZero() {
		d = e.ScoreDate.Format(time.DateOnly)
	}
	return fmt.Sprintf("%s (%d scores)", d, len(e.Scores))
}

// matchInput is what match and propose share: the repository, the reports
// and the cached feeds, matched and ranked.
type matchInput struct {
	repo    *baseline.Repository
	reports []*inventory.Report
	db      *advisory.DB
	result  *advisory.Result
	ranked  []advisory.Exposure
}

func (a *app) matchFleet(cmd *cobra.Command, dir, cache, inv string, now time.Time) (*matchInput, error) {
	if inv == "" {
		return nil, usageError("--inventory is required (a report file, a JSON-lines file or a directory)")
	}
	repo, err := a.loadRepo(cmd, dir, now)
	if err != nil {
		return nil, err
	}
	cdir, err := cacheDir(dir, cache)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(cdir); err != nil {
		return nil, fmt.Errorf("no advisory cache at %s: run patchbay advisories sync (or sync --from FILE) first", cdir)
	}
	db, err := advisory.LoadDir(cmd.Context(), cdir, false)
	if err != nil {
		return nil, err
	}
	if len(db.Advisories) == 0 {
		return nil, fmt.Errorf("the advisory cache %s holds no advisories: run patchbay advisories sync first", cdir)
	}
	var reports []*inventory.Report
	dec := &inventory.Decoder{Cache: inventory.NewSetCache(), Workers: runtime.GOMAXPROCS(0)}
	if err := inventory.ReadPath(cmd.Context(), inv, dec, func(r *inventory.Report) error {
		reports = append(reports, r)
		return nil
	}); err != nil {
		return nil, err
	}
	streams := map[string]bool{}
	var list []string
	for _, r := range reports {
		if !streams[r.Stream] {
			streams[r.Stream] = true
			list = append(list, r.Stream)
		}
	}
	ix := advisory.NewIndex(db, list, nil)
	res := advisory.Match(ix, reports, advisory.MatchOptions{Repo: repo})
	ranked := advisory.Rank(res, db, advisory.RankOptions{Repo: repo, Now: now})
	return &matchInput{repo: repo, reports: reports, db: db, result: res, ranked: ranked}, nil
}

func (a *app) newAdvisoriesMatchCmd() *cobra.Command {
	var (
		dir, cache, inv string
		exitCode        bool
		maxRows         int
	)
	cmd := &cobra.Command{
		Use:   "match",
		Short: "Show which advisories apply to which hosts, ranked by risk",
		Long: `match judges every host report against the cached advisory feeds and lists
the advisories that leave a host exposed, ranked by risk.

Judgement follows the distribution: Debian and Ubuntu statements are about
source packages and are compared with the installed source version; Alpine's
secdb names aports (the apk origin); Red Hat family feeds name binary RPMs.
The fixed version compared is always the distribution's own, so backported
fixes count as fixed. Verdicts: affected (a fix exists), no-fix-yet,
will-not-fix; not-affected and fixed are not findings.

The order is reproducible: KEV entries first (earliest due date first),
then the score (0-100): EPSS percentile, severity or CVSS, hosts exposed
weighted by ring (the last ring, prod, counts 3x), and age against the SLA.
Every score lists its inputs.

Exit status: 0, or with --exit-code 1 when any host is exposed; 2 usage.`,
		Example: `  patchbay advisories match -C examples/quickstart --inventory examples/quickstart/inventory
  patchbay advisories match --inventory fleet.jsonl --format json > exposure.json
  patchbay advisories match --inventory reports/ --format markdown --now 2026-11-25T00:00:00Z`,
		Args: noArgs,
	}
	addRepoFlag(cmd, &dir)
	cmd.Flags().StringVar(&cache, "cache", "", "advisory cache directory (default: .patchbay/advisories in the patch repository)")
	cmd.Flags().StringVar(&inv, "inventory", "", "host reports: a .json file, a JSON-lines file or a directory (required)")
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "exit 1 when any host is exposed")
	cmd.Flags().IntVar(&maxRows, "max", 20, "advisories shown by the table format (0 = all)")
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
		m, err := a.matchFleet(cmd, dir, cache, inv, t)
		if err != nil {
			return err
		}
		switch f {
		case "json":
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			err = enc.Encode(map[string]any{"now": t, "hosts": len(m.reports), "packageSets": len(m.result.Sets), "feeds": m.db.Files, "advisories": m.ranked})
		case "markdown":
			err = render.AdvisoriesMarkdown(a.stdout, m.ranked, render.CommentLimit)
		default:
			fmt.Fprintf(a.stdout, "%d hosts (%d distinct package sets), %d advisories apply\n\n", len(m.reports), len(m.result.Sets), len(m.ranked))
			err = render.AdvisoriesText(a.stdout, m.ranked, maxRows)
		}
		if err != nil {
			return err
		}
		if exitCode && len(m.ranked) > 0 {
			return errFindings
		}
		return nil
	}
	return cmd
}

// refreshRepo raises rules' kev and severity from the advisory cache.
func (a *app) refreshRepo(cmd *cobra.Command, repo *baseline.Repository, dir, cache string) (*baseline.Repository, error) {
	cdir, err := cacheDir(dir, cache)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(cdir); err != nil {
		return nil, fmt.Errorf("--fresh: no advisory cache at %s: run patchbay advisories sync first", cdir)
	}
	db, err := advisory.LoadDir(cmd.Context(), cdir, false)
	if err != nil {
		return nil, err
	}
	return advisory.Refresh(repo, db), nil
}
