package audit

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/patchbay/patchbay/engine/gitrepo"
)

// RingMove is one ring a commit moved to a baseline.
type RingMove struct {
	Ring, BaselineID, BaselineDigest string
}

// CompleteOptions configure Complete.
type CompleteOptions struct {
	// Branch is the protected main branch; default "main".
	Branch string
	// Moved returns the rings commit n moved (compared with its first
	// parent); nil when it moved none or does not validate. Required.
	Moved func(ctx context.Context, n *gitrepo.Node) ([]RingMove, error)
	// Previous returns the ring before ring in the promotion order (""
	// for the first ring); nil skips the ring.verified evidence check.
	Previous func(ring string) string
	// ExpectSeq is the lowest chain head acceptable: the highest seq a
	// patchbay server (GET /api/v1/audit/head) or CI acknowledged.
	ExpectSeq int64
	// NotBefore skips commits committed after it (a merge the controller
	// may not have processed yet); zero checks every commit.
	NotBefore time.Time
}

// Gap is one thing the trail should hold and does not.
type Gap struct {
	// Commit is the commit concerned ("" for the whole chain).
	Commit string `json:"commit,omitempty"`
	What   string `json:"what"`
}

func (g Gap) String() string {
	if g.Commit == "" {
		return g.What
	}
	return short(g.Commit) + ": " + g.What
}

// Complete checks that the trail in log (read from repo, and verified
// separately) is complete, not only intact: along the first-parent
// history of the branch, every commit that moved a ring — from the first
// commit patchbay recorded a rollout for — has its change.merged (merge
// commits) and one rollout.started per ring moved; every rollout that a
// later rollout of its ring replaced has its rollout.finished; every
// rollout of a ring after the first has the previous ring's ring.verified
// of the same baseline earlier in the chain (the promotion's evidence);
// and the chain is at least opts.ExpectSeq long. A repository without the
// notes ref, or with merges but no record at all, is one gap saying so.
func Complete(ctx context.Context, repo *gitrepo.Repo, log *Log, opts CompleteOptions) ([]Gap, error) {
	branch := opts.Branch
	if branch == "" {
		branch = "main"
	}
	head, err := repo.Head(branch)
	if err != nil {
		return nil, fmt.Errorf("audit completeness: branch %s: %w", branch, err)
	}
	var nodes []*gitrepo.Node
	merges := 0
	if err := repo.FirstParent(ctx, head, func(n *gitrepo.Node) error {
		nodes = append(nodes, n)
		if len(n.Parents) > 1 {
			merges++
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("audit completeness: %w", err)
	}
	slices.Reverse(nodes) // oldest first
	var gaps []Gap
	if log.Head.Tip.IsZero() && len(log.Records) == 0 {
		return []Gap{{What: fmt.Sprintf("no %s in this repository (%d merge commits on %s): a plain git clone does not fetch notes — "+
			"run 'git fetch origin %s:%s' or pass --remote", gitrepo.NotesRef, merges, branch, gitrepo.NotesRef, gitrepo.NotesRef)}}, nil
	}
	if opts.ExpectSeq > log.Head.Seq {
		gaps = append(gaps, Gap{What: fmt.Sprintf("truncated: the chain ends at record %d, but record %d was acknowledged (--expect-seq): %d records missing at the tail",
			log.Head.Seq, opts.ExpectSeq, opts.ExpectSeq-log.Head.Seq)})
	}
	started := map[string][]*RolloutStarted{} // commit → rollout.started records
	merged := map[string]bool{}
	finished := map[string]bool{}
	type verified struct {
		ring, digest string
		seq          int64
	}
	var verifications []verified
	type startRec struct {
		p   *RolloutStarted
		seq int64
		at  string
	}
	var starts []startRec
	for _, r := range log.Records {
		p, err := r.Decode()
		if err != nil {
			continue // Verify reports it
		}
		switch p := p.(type) {
		case *ChangeMerged:
			merged[r.Commit] = true
		case *RolloutStarted:
			started[r.Commit] = append(started[r.Commit], p)
			starts = append(starts, startRec{p, r.Chain.Seq, r.Commit})
		case *RolloutFinished:
			finished[p.RolloutID] = true
		case *RingVerified:
			verifications = append(verifications, verified{p.Ring, p.BaselineDigest, r.Chain.Seq})
		}
	}
	// Commits before the first one patchbay recorded a rollout for were
	// merged before it ran: nothing is expected of them.
	first := -1
	for i, n := range nodes {
		h := n.Hash.String()
		if merged[h] || len(started[h]) > 0 {
			first = i
			break
		}
	}
	if first < 0 {
		if merges > 0 {
			gaps = append(gaps, Gap{What: fmt.Sprintf("empty trail: %d merge commits on %s but no change.merged or rollout.started record on any of them", merges, branch)})
		}
		return gaps, nil
	}
	if opts.Moved == nil {
		return nil, fmt.Errorf("audit completeness: no Moved function")
	}
	for _, n := range nodes[first:] {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !opts.NotBefore.IsZero() && n.Time.After(opts.NotBefore) {
			continue
		}
		moves, err := opts.Moved(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("audit completeness: %s: %w", short(n.Hash.String()), err)
		}
		if len(moves) == 0 {
			continue
		}
		h := n.Hash.String()
		if len(n.Parents) > 1 && !merged[h] {
			gaps = append(gaps, Gap{Commit: h, What: "merge moved ring(s) " + ringNames(moves) + " but has no change.merged record"})
		}
		for _, m := range moves {
			if !slices.ContainsFunc(started[h], func(s *RolloutStarted) bool { return s.Ring == m.Ring }) {
				gaps = append(gaps, Gap{Commit: h, What: fmt.Sprintf("moved ring %s to %s but has no rollout.started record for it", m.Ring, m.BaselineID)})
			}
		}
	}
	// A rollout replaced by a later one of its ring has ended.
	lastOf := map[string]int{}
	for i, s := range starts {
		lastOf[s.p.Ring] = i
	}
	for i, s := range starts {
		if i != lastOf[s.p.Ring] && !finished[s.p.RolloutID] {
			gaps = append(gaps, Gap{Commit: s.at, What: fmt.Sprintf("rollout %s was followed by another rollout of ring %s but has no rollout.finished record", s.p.RolloutID, s.p.Ring)})
		}
	}
	if opts.Previous != nil {
		for _, s := range starts {
			prev := opts.Previous(s.p.Ring)
			if prev == "" {
				continue
			}
			if !slices.ContainsFunc(verifications, func(v verified) bool {
				return v.ring == prev && v.digest == s.p.BaselineDigest && v.seq < s.seq
			}) {
				gaps = append(gaps, Gap{Commit: s.at, What: fmt.Sprintf("promotion of %s to %s (rollout %s) has no earlier ring.verified of %s for that baseline (its evidence; an emergency-lane promotion shows here too)",
					s.p.BaselineID, s.p.Ring, s.p.RolloutID, prev)})
			}
		}
	}
	return gaps, nil
}

func ringNames(ms []RingMove) string {
	var out string
	for i, m := range ms {
		if i > 0 {
			out += ", "
		}
		out += m.Ring
	}
	return out
}
