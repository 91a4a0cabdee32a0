package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/advisory"
	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/change"
	"github.com/patchbay/patchbay/engine/cycle"
	"github.com/patchbay/patchbay/engine/gate"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/render"
	"github.com/patchbay/patchbay/engine/rollout"
)

// demoAdvisory is the demo's advisory: SIMULATED, in the real OSV format,
// for a Debian 12 source package the simulated fleet runs and no baseline
// names, "fixed" in a SIMULATED version just above the installed one (the
// fleet's package lists are real bookworm ones, already current against
// the real feeds). The "x_" prefix is OSV's for ids outside the registered
// databases.
func demoAdvisory(now time.Time, pkg, fixed string) []byte {
	b, _ := json.Marshal(map[string]any{
		"schema_version": "1.7.0",
		"id":             "x_patchbay-demo-2026-0001",
		"summary":        pkg + ": SIMULATED vulnerability for the demo",
		"published":      now.Add(-48 * time.Hour).UTC().Format(time.RFC3339),
		"modified":       now.Add(-48 * time.Hour).UTC().Format(time.RFC3339),
		"affected": []any{map[string]any{
			"package": map[string]any{"ecosystem": "Debian:12", "name": pkg},
			"ranges":  []any{map[string]any{"type": "ECOSYSTEM", "events": []any{map[string]string{"introduced": "0"}, map[string]string{"fixed": fixed}}}},
		}},
		"database_specific": map[string]string{"severity": "high"},
	})
	return b
}

// demoTarget picks the advisory's package: a source package on the debian-12
// hosts that no baseline rule names, preferring well-known ones.
func demoTarget(model *baseline.Repository, reports []*inventory.Report) (pkg, installed string, err error) {
	named := map[string]bool{}
	for _, b := range model.Baselines {
		if sr := b.Streams["debian-12"]; sr != nil {
			for n := range sr.Packages {
				named[n] = true
			}
			for n := range sr.Sources {
				named[n] = true
			}
		}
	}
	have := map[string]string{}
	for _, r := range reports {
		if r.Stream != "debian-12" {
			continue
		}
		for _, p := range r.Packages.Packages() {
			src, v := p.SourceName, p.SourceVersion
			if src == "" {
				src, v = p.Name, p.Version
			}
			if !named[src] && !named[p.Name] {
				if old, ok := have[src]; !ok || old < v {
					have[src] = v
				}
			}
		}
	}
	for _, c := range []string{"sudo", "tar", "bash", "libxml2", "zlib", "gzip", "coreutils"} {
		if v, ok := have[c]; ok {
			return c, v, nil
		}
	}
	var names []string
	for n := range have {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "", "", fmt.Errorf("demo: no debian-12 package outside the baselines to write an advisory for")
	}
	sort.Strings(names)
	return names[0], have[names[0]], nil
}

// advisories is the step "from advisory to merged baseline": a feed
// server in this process serves the simulated advisory, the cache syncs
// it, the monthly proposal cycle matches the fleet's stored reports,
// proposes a baseline and opens its pull request — GitHub simulated by
// the local repository: a branch and a commit there, pull request #3
// evaluated by the same gate code the webhook runs — which merges.
func (d *demo) advisories(ctx context.Context) error {
	now := d.clock.now()
	base, err := d.repo.Resolve("main")
	if err != nil {
		return err
	}
	tree, err := d.repo.TreeFS(base)
	if err != nil {
		return err
	}
	model, err := baseline.Load(ctx, tree, baseline.Options{Now: now})
	if err != nil {
		return err
	}
	reports, err := d.srv.Reports(ctx)
	if err != nil {
		return err
	}
	pkg, installed, err := demoTarget(model, reports)
	if err != nil {
		return err
	}
	fixed := installed + "+demo1"

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	feed := demoAdvisory(now, pkg, fixed)
	hs := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/osv/x_patchbay-demo-2026-0001.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(feed)
	})}
	go hs.Serve(ln) //nolint:errcheck // closed below
	defer hs.Close()
	url := "http://" + ln.Addr().String() + "/osv/x_patchbay-demo-2026-0001.json"
	d.say("SIMULATED: the feed server (in this process, %s) and its one advisory x_patchbay-demo-2026-0001, in the real OSV format: %s on Debian 12, fixed in %s (a made-up version; the fleet's real package lists are current against the real feeds)", ln.Addr(), pkg, fixed)
	cache := filepath.Join(d.dir, "advisories")
	res, err := advisory.Sync(ctx, cache, advisory.Sources(map[string][]string{"debian-12": {url}}, "", ""), advisory.SyncOptions{Now: d.clock.now})
	if err != nil {
		return err
	}
	for _, r := range res {
		d.say("advisories sync: %s %s", r.Name, r.Status)
	}
	db, err := advisory.LoadDir(ctx, cache, true)
	if err != nil {
		return err
	}
	c := baseline.Cycle{Name: "monthly", Schedule: &baseline.CycleSchedule{Every: "month", Week: float64(2), Weekday: "tuesday", At: "10:00", Timezone: "UTC"}, Streams: []string{"debian-12"}}
	out, err := cycle.Run(ctx, cycle.Input{Cycle: c, Repo: model, Tree: tree, BaseBranch: "main", BaseCommit: base.String(), DB: db, Reports: reports, Now: now})
	if err != nil {
		return err
	}
	p, rec := out.Proposal, out.Record
	if p == nil {
		return fmt.Errorf("demo: the monthly cycle proposed nothing (%s, %d left out, %d advisories in the cache, %d reports)", rec.Outcome, rec.LeftOut, len(db.Advisories), len(reports))
	}
	d.say("cycle monthly (%s), period %s: matched %d stored host reports", cycle.Describe(c), rec.Period, len(reports))
	for _, e := range out.Ranked {
		d.say("  %s risk %.1f: %d hosts exposed", e.ID, e.Risk.Score, len(e.Hosts))
	}
	for _, cv := range p.Covered {
		d.say("proposed %s (%s of %s): %s %s ≥ %s [%s] for %d hosts", p.File, p.Mode, p.Base, cv.Stream, cv.Package, cv.Min, cv.Severity, cv.Hosts)
	}

	// GitHub, simulated: the branch and the commit in the local repository.
	if err := os.WriteFile(filepath.Join(d.repoDir, filepath.FromSlash(p.File)), p.Source, 0o644); err != nil {
		return err
	}
	d.who.When = now
	head, err := d.repo.CommitAll(fmt.Sprintf("monthly: propose baseline %s (%d rules)", p.ID, len(p.Covered)), gitrepo.Signature{Name: "patchbay[bot]", Email: "bot@patchbay.invalid", When: now})
	if err != nil {
		return err
	}
	if err := d.repo.Branch("cycle-monthly-"+rec.Period, head); err != nil {
		return err
	}
	if err := d.repo.Branch("main", base); err != nil {
		return err
	}
	rec.Outcome, rec.PR, rec.HeadSHA = audit.CycleOpened, 3, head.String()
	d.say("SIMULATED GitHub: branch %s and commit %s made in the local repository; pull request #3 opened with the body the Git Data API would carry (%d bytes: rules, plan delta, ranked advisories)",
		rec.Branch, head.String()[:12], len(out.Body))
	w := &audit.Writer{Repo: d.repo, Signer: d.signer, Committer: gitrepo.Signature{Name: "patchbay", Email: "patchbay@localhost"}, Now: d.clock.now}
	if _, err := w.Write(ctx, base, rec); err != nil {
		return err
	}
	d.say("signed cycle.proposal record on %s: %s", base.String()[:12], cycleLine(*rec))
	d.say("SIMULATED review: security-lead approves pull request #3; the gate (the code the webhook runs) evaluates it")

	reviews := []gate.Review{{User: gate.User{Login: "security-lead"}, State: "APPROVED", CommitID: head.String(), SubmittedAt: now}}
	pr := gate.PullRequest{Number: 3, Author: "patchbay[bot]", LastPusher: "patchbay[bot]", HeadSHA: head.String()}
	gres, err := d.eval.Evaluate(ctx, change.Request{Repo: d.repo, Base: base.String(), Head: head.String(), PR: pr, Reviews: reviews, Reports: reports, Now: now})
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := render.GateText(&b, gres.Decision, gres.Approvers, gres.EvidenceSource); err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		d.say("%s", line)
	}
	if _, err := w.Write(ctx, head, &audit.GateDecision{Result: string(gres.Decision.Result), Denies: ids(gres.Decision.Deny), Warns: ids(gres.Decision.Warn),
		PolicyBundleDigest: gres.Decision.Manifest.BundleDigest, InputDigest: gres.Decision.Manifest.InputDigest, PR: 3,
		HeadSHA: head.String(), BaseSHA: base.String(), Approvers: gres.Approvers, DecidedAt: now}); err != nil {
		return err
	}
	if gres.Decision.Result != gate.Pass {
		return fmt.Errorf("demo: the proposed baseline should pass the gate, got %s", gres.Decision.Result)
	}
	m, err := d.repo.Merge(head, fmt.Sprintf("Merge pull request #3 from patchbay/cycle/monthly/%s\n\nmonthly: propose baseline %s", rec.Period, p.ID), d.who)
	if err != nil {
		return err
	}
	d.say("merged as %s: %s is on main; pinning it in canary is the next promotion, as in steps 4-8", m.String()[:12], p.ID)
	if err := d.models.Check(ctx); err != nil {
		return err
	}
	// The merge reaches the controller as the webhook's hint would: it
	// records the merge (no ring moved, so nothing rolls out).
	if err := d.ctl.Hint(ctx, rollout.Hint{Commit: m.String(), PR: 3, HeadSHA: head.String(), Author: "patchbay[bot]", Approvers: gres.Approvers}); err != nil {
		return err
	}
	if err := d.ctl.Step(ctx); err != nil && !errors.Is(err, rollout.ErrNotLeader) {
		return err
	}
	return nil
}
