package cycle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/patchbay/patchbay/engine/advisory"
	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/github"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/render"
)

// Input is what one run of a cycle needs. Repo and Tree are the main
// branch at BaseCommit; DB the advisory feeds; Reports the fleet.
type Input struct {
	Cycle      baseline.Cycle
	Repo       *baseline.Repository
	Tree       fs.FS
	BaseBranch string
	BaseCommit string
	DB         *advisory.DB
	Reports    []*inventory.Report
	Now        time.Time
	// Owner, Name and Client reach the GitHub repository; a nil Client
	// proposes without opening a pull request (DryRun).
	Owner, Name string
	Client      *gh.Client
}

// Result is what a run did: Record is always set (also on failure, with
// Outcome failed), Proposal and Opened when a pull request was opened or
// found.
type Result struct {
	Record   *audit.CycleProposal
	Proposal *advisory.Proposal
	Ranked   []advisory.Exposure
	Body     string
	Opened   *github.Opened
}

// Run matches the fleet, proposes and opens (or finds) the period's pull
// request. An error is returned with a Result whose record says failed,
// for the caller to record; only a cycle that is not due returns (nil,
// nil) — never, as Run does not decide when a cycle is due.
func Run(ctx context.Context, in Input) (*Result, error) {
	rec := &audit.CycleProposal{Cycle: in.Cycle.Name, BaseCommit: in.BaseCommit, RanAt: in.Now.UTC(), Advisories: []string{}, KEV: []string{}}
	res := &Result{Record: rec}
	fail := func(err error) (*Result, error) {
		rec.Outcome, rec.Error = audit.CycleFailed, err.Error()
		if rec.Period == "" {
			rec.Period = "unknown"
		}
		return res, err
	}
	if in.Cycle.Schedule != nil {
		p, err := Current(in.Cycle.Schedule, in.Now)
		if err != nil {
			return fail(err)
		}
		rec.Period = p.Key
	}
	var streams []string
	for _, r := range in.Reports {
		if !slices.Contains(streams, r.Stream) {
			streams = append(streams, r.Stream)
		}
	}
	ix := advisory.NewIndex(in.DB, streams, nil)
	matched := advisory.Match(ix, in.Reports, advisory.MatchOptions{Repo: in.Repo})
	res.Ranked = advisory.Rank(matched, in.DB, advisory.RankOptions{Repo: in.Repo, Now: in.Now})
	opts := advisory.ProposeOptions{Repo: in.Repo, Now: in.Now, MinRisk: in.Cycle.MinRisk, Streams: in.Cycle.Streams,
		NextCycle: in.Cycle.NextCycle, KEVOnly: in.Cycle.KEV != nil}
	// The id is fixed by cycle and period, so a rerun proposes the same
	// baseline; a KEV period is only known from what is covered, so the
	// KEV cycle proposes once to learn it.
	if rec.Period != "" {
		opts.ID = in.Cycle.Name + "-" + rec.Period
	}
	p, err := advisory.Propose(res.Ranked, opts)
	if errors.Is(err, advisory.ErrNothingToPropose) {
		rec.Outcome = audit.CycleNothing
		if rec.Period == "" {
			rec.Period = "kev-" + in.Now.UTC().Format(time.DateOnly)
		}
		if p != nil {
			rec.LeftOut = len(p.LeftOut)
		}
		return res, nil
	}
	if err != nil {
		return fail(err)
	}
	if in.Cycle.KEV != nil {
		period, deadline := kevPeriod(in.DB, p, time.Duration(in.Cycle.KEV.Within))
		rec.Period = period
		rec.Deadline = &deadline
		opts.ID = in.Cycle.Name + "-" + strings.TrimPrefix(period, "kev-")
		if p, err = advisory.Propose(res.Ranked, opts); err != nil {
			return fail(err)
		}
	}
	res.Proposal = p
	rec.BaselineID, rec.Mode, rec.Rules, rec.LeftOut = p.ID, p.Mode, len(p.Covered), len(p.LeftOut)
	for _, c := range p.Covered {
		for _, a := range c.Advisories {
			if !slices.Contains(rec.Advisories, a) {
				rec.Advisories = append(rec.Advisories, a)
			}
			if in.DB.KEV != nil {
				if _, ok := in.DB.KEV.Entries[a]; ok && !slices.Contains(rec.KEV, a) {
					rec.KEV = append(rec.KEV, a)
				}
			}
		}
	}
	slices.Sort(rec.Advisories)
	slices.Sort(rec.KEV)
	head, err := validate(ctx, in, p)
	if err != nil {
		return fail(err)
	}
	rec.BaselineDigest = head.Baselines[p.ID].Digest
	var body bytes.Buffer
	fmt.Fprintf(&body, "_Opened by the patchbay proposal cycle **%s** (%s), period %s, from %s at %s._\n\n",
		in.Cycle.Name, Describe(in.Cycle), rec.Period, short(in.BaseCommit), in.BaseBranch)
	if err := render.ProposalMarkdown(&body, p, res.Ranked, PinnedDelta(in.Repo, head, p.ID, in.Reports, in.Now)); err != nil {
		return fail(err)
	}
	res.Body = body.String()
	if len(res.Body) > github.MaxPRBody {
		res.Body = strings.ToValidUTF8(res.Body[:github.MaxPRBody-200], "") + "\n\n_(cut)_\n"
	}
	rec.Branch = Branch(in.Cycle.Name, rec.Period)
	if in.Client == nil {
		rec.Outcome = audit.CycleNothing
		return res, nil
	}
	op, err := github.OpenProposal(ctx, in.Client, github.Proposal{
		Owner: in.Owner, Repo: in.Name, Base: in.BaseBranch, Branch: rec.Branch,
		Files:   map[string][]byte{p.File: p.Source},
		Message: fmt.Sprintf("%s: propose baseline %s (%d rules)\n\nWritten by the patchbay proposal cycle %s for period %s.", in.Cycle.Name, p.ID, len(p.Covered), in.Cycle.Name, rec.Period),
		Title:   fmt.Sprintf("patchbay %s: baseline %s (%d rules%s)", in.Cycle.Name, p.ID, len(p.Covered), kevNote(rec.KEV)),
		Body:    res.Body,
	})
	if err != nil {
		return fail(err)
	}
	res.Opened = op
	rec.PR, rec.HeadSHA = op.Number, op.HeadSHA
	rec.Outcome = audit.CycleOpened
	if op.Existing {
		rec.Outcome = audit.CycleExisting
	}
	// Late: this run opened the pull request after the KEV deadline.
	rec.Late = rec.Deadline != nil && !op.Existing && in.Now.After(*rec.Deadline)
	return res, nil
}

func kevNote(kev []string) string {
	if len(kev) == 0 {
		return ""
	}
	return fmt.Sprintf(", %d KEV", len(kev))
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// kevPeriod keys a KEV proposal by the newest dateAdded among the KEV
// entries it covers and a digest of their ids; the deadline is that
// dateAdded plus within.
func kevPeriod(db *advisory.DB, p *advisory.Proposal, within time.Duration) (string, time.Time) {
	var ids []string
	var newest time.Time
	for _, c := range p.Covered {
		for _, a := range c.Advisories {
			if db.KEV == nil {
				continue
			}
			if e, ok := db.KEV.Entries[a]; ok {
				if !slices.Contains(ids, a) {
					ids = append(ids, a)
				}
				if e.DateAdded.After(newest) {
					newest = e.DateAdded
				}
			}
		}
	}
	slices.Sort(ids)
	sum := sha256.Sum256([]byte(strings.Join(ids, "\n")))
	return "kev-" + newest.UTC().Format(time.DateOnly) + "-" + hex.EncodeToString(sum[:4]), newest.Add(within)
}

// validate loads the main branch tree with the proposed baseline added:
// a proposal that does not validate is never opened.
func validate(ctx context.Context, in Input, p *advisory.Proposal) (*baseline.Repository, error) {
	if in.Tree == nil {
		return nil, errors.New("cycle: no tree of the main branch to validate the proposal against")
	}
	dir, err := os.MkdirTemp("", "patchbay-cycle-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.CopyFS(dir, in.Tree); err != nil {
		return nil, fmt.Errorf("cycle: copy the main branch tree: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(p.File)), p.Source, 0o644); err != nil {
		return nil, err
	}
	head, err := baseline.LoadDir(ctx, dir, baseline.Options{Now: in.Now})
	if err != nil {
		return nil, fmt.Errorf("cycle: the proposed baseline %s does not validate: %w", p.ID, err)
	}
	return head, nil
}

// PinnedDelta is the plan delta if the first ring pinned the proposal id
// (head holds it, before does not); nil when there is no ring.
func PinnedDelta(before, head *baseline.Repository, id string, reports []*inventory.Report, now time.Time) *plan.Effect {
	if len(head.Rings) == 0 {
		return nil
	}
	pinned := *head
	pinned.Rings = append([]*baseline.Ring(nil), head.Rings...)
	first := *pinned.Rings[0]
	first.Baseline = id
	pinned.Rings[0] = &first
	return plan.ComputeEffect(plan.EffectInput{Base: before, Head: &pinned, BaseRev: "current", HeadRev: id + " pinned in " + first.Name,
		Reports: reports, Now: now, IncludePlanDelta: true})
}
