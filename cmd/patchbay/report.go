package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/history"
	"github.com/patchbay/patchbay/engine/render"
	"github.com/patchbay/patchbay/engine/store"
)

func (a *app) newReportCmd() *cobra.Command {
	var dir, db, period, out, branch string
	var keys []string
	var fmtFlag *formatFlag
	cmd := &cobra.Command{
		Use:   "report --period YYYY-MM",
		Short: "Write the monthly compliance report: SLA attainment, time to remediate, risks, rollouts",
		Long: `Report measures one calendar month (UTC) from the server's compliance
history (--db, the store 'patchbay serve' writes) and the patch repository
(-C DIR: its exceptions and its audit trail): SLA attainment per severity and
KEV against the previous month, time to remediate, the top open risks at the
month's end, exceptions and their age, hosts that regressed, and the
rollouts started in the month with the change, pull request, approvers and
gate decision behind each. The audit trail's verification result is on the
report; without a trusted key (--key, or trustedKeys in patchbay.cue) it
says NOT VERIFIED and the command exits 4 after writing the report.

How each measure is defined: engine/history/measures.md.

Formats: html (one printable page), markdown, csv (one row per table row,
first column the section), json.`,
		Example: `  patchbay report --period 2026-11 --db sqlite://patchbay.db -C patches --format html --out 2026-11.html
  patchbay report --period 2026-11 --db postgres://patchbay@db/patchbay --format markdown
  patchbay report --period 2026-10 --format json --key keys/patchbay.pub | jq .slaAttainment`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := fmtFlag.get()
			if err != nil {
				return err
			}
			if period == "" {
				return usageError("--period YYYY-MM is required (for example --period %s)", a.now().UTC().Format("2006-01"))
			}
			if _, _, err := history.ParsePeriod(period); err != nil {
				return usageError("%v", err)
			}
			ctx := cmd.Context()
			now := a.now().UTC()
			in := history.ReportInput{Period: period, Now: now}
			if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
				if _, err := os.Stat(dir + "/patchbay.cue"); err == nil {
					repo, err := baseline.LoadDir(ctx, dir, baseline.Options{Now: now})
					if err != nil {
						return fmt.Errorf("load patch repository %s: %w", dir, err)
					}
					in.Repo = repo
				}
			}
			trail, verify, err := a.reportTrail(cmd, dir, branch, keys)
			if err != nil {
				return err
			}
			in.Rollouts, in.Verify = trail, verify
			st, err := store.Open(ctx, db, store.Options{})
			if err != nil {
				return fmt.Errorf("open store: %w", err)
			}
			defer st.Close()
			rep, err := history.BuildReport(ctx, st, in)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			switch format {
			case "json":
				enc := json.NewEncoder(&buf)
				enc.SetIndent("", "  ")
				err = enc.Encode(rep)
			case "markdown":
				err = render.ReportMarkdown(&buf, rep)
			case "csv":
				err = render.ReportCSV(&buf, rep)
			case "html":
				err = render.ReportHTML(&buf, rep)
			}
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
			if out == "" {
				_, err = a.stdout.Write(buf.Bytes())
			} else {
				err = os.WriteFile(out, buf.Bytes(), 0o644)
				fmt.Fprintf(a.stderr, "wrote %s\n", out)
			}
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
			if !verify.Checked || !verify.Verified {
				return fmt.Errorf("%w: the report says %s", errVerification, render.VerificationLine(verify))
			}
			return nil
		},
	}
	addRepoFlag(cmd, &dir)
	fmtFlag = addFormatFlag(cmd, "markdown", "html", "csv", "json")
	cmd.Flags().StringVar(&db, "db", defaultDB, "store with the compliance history: sqlite://PATH or postgres://...")
	cmd.Flags().StringVar(&period, "period", "", "the month to report, YYYY-MM")
	cmd.Flags().StringVar(&out, "out", "", "file to write (default: standard output)")
	cmd.Flags().StringVar(&branch, "branch", "main", "the main branch of the patch repository")
	cmd.Flags().StringArrayVar(&keys, "key", nil, "trusted public key file (PEM) for the audit trail; repeatable")
	return cmd
}

// reportTrail reads the audit trail of the patch repository at dir (when
// it is a Git repository) for the rollouts and their approvals, and
// verifies the chain against the trusted keys.
func (a *app) reportTrail(cmd *cobra.Command, dir, branch string, keys []string) ([]history.RolloutRow, history.Verification, error) {
	ctx := cmd.Context()
	v := history.Verification{Problems: []string{}}
	repo, err := gitrepo.Open(dir)
	if err != nil {
		v.Problems = append(v.Problems, "no Git repository at "+dir+": no audit trail read")
		return nil, v, nil
	}
	defer repo.Close()
	log, err := audit.Read(ctx, repo)
	if err != nil {
		return nil, v, err
	}
	v.Records = len(log.Records)
	trusted, err := a.loadTrustedKeys(ctx, dir, branch, keys)
	if err != nil {
		return nil, v, err
	}
	if len(trusted) > 0 {
		v.Checked = true
		for _, p := range audit.VerifyLog(log, trusted) {
			v.Problems = append(v.Problems, p.String())
		}
		v.Verified = len(v.Problems) == 0
	}
	changes, err := audit.Trail(ctx, repo, log, audit.TrailOptions{Branch: branch})
	if err != nil {
		return nil, v, err
	}
	return rolloutRows(changes), v, nil
}

// rolloutRows flattens the trail's rollouts with their change's approvals.
func rolloutRows(changes []audit.Change) []history.RolloutRow {
	var out []history.RolloutRow
	for _, c := range changes {
		gate := ""
		if c.Gate != nil {
			gate = c.Gate.Result
		}
		for _, ro := range c.Rollouts {
			out = append(out, history.RolloutRow{ID: ro.ID, Ring: ro.Ring, Baseline: ro.BaselineID, Commit: c.Commit, PR: c.PR, Author: c.Author,
				Approvers: append([]string{}, c.Approvers...), Gate: gate, Outcome: ro.Outcome, Hosts: ro.HostsTotal, Failed: ro.HostsFailed,
				StartedAt: ro.StartedAt, FinishedAt: ro.FinishedAt})
		}
	}
	return out
}

// evidence joins each host's evidence rows with the rollout's change and
// approvals from the trail.
func evidence(rows []history.EvidenceRow, changes []audit.Change) []history.EvidenceRow {
	byRollout := map[string]history.RolloutRow{}
	for _, r := range rolloutRows(changes) {
		byRollout[r.ID] = r
	}
	for i := range rows {
		if ro, ok := byRollout[rows[i].RolloutID]; ok {
			rows[i].Ring, rows[i].Commit, rows[i].PR, rows[i].Approvers = ro.Ring, ro.Commit, ro.PR, ro.Approvers
		}
	}
	return rows
}
