package audit

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/patchbay/patchbay/engine/gitrepo"
)

// Change is one commit on the main branch's first-parent line with what the
// audit trail says about it: the pull request, who approved, what the gate
// decided, what rolled out where and which rings verified it.
type Change struct {
	Commit string    `json:"commit"`
	Time   time.Time `json:"time"`
	// Subject is the first line of the commit message (see
	// TrailOptions.Subjects).
	Subject string `json:"subject,omitempty"`
	// Merge is true for merge commits.
	Merge bool `json:"merge"`
	// PR and Author come from the change.merged record, else from GitHub's
	// merge message "Merge pull request #N from AUTHOR/branch".
	PR        int      `json:"pr,omitempty"`
	Author    string   `json:"author,omitempty"`
	Approvers []string `json:"approvers"`
	// Head is the pull request's head (the merge's second parent).
	Head string `json:"head,omitempty"`
	// Gate is the latest gate decision on the head (or the PR), if any.
	Gate *GateDecision `json:"gate,omitempty"`
	// Merged is the change.merged record's predicate, if any.
	Merged *ChangeMerged `json:"merged,omitempty"`
	// Rollouts are per ring, in the order they started.
	Rollouts []Rollout `json:"rollouts"`
	// Verifications are the ring.verified records about this commit.
	Verifications []RingVerified `json:"verifications"`
	// Exceptions are the exception.granted records on this commit.
	Exceptions []ExceptionGranted `json:"exceptions"`
	// Tokens are the token.changed records published on this commit
	// (operators creating or revoking credentials while it was the main
	// branch's last processed commit).
	Tokens []TokenChanged `json:"tokens"`
	// Cycles are the cycle.proposal records on this commit: what the
	// proposal cycles computed from it and did.
	Cycles []CycleProposal `json:"cycles,omitempty"`
	// Records are every record about the change (on the commit, on the
	// head, or a gate decision for the PR), in chain order.
	Records []*Record `json:"-"`
}

// Rollout summarizes a rollout of a change in one ring.
type Rollout struct {
	ID             string `json:"id"`
	Ring           string `json:"ring"`
	BaselineID     string `json:"baselineId"`
	BaselineDigest string `json:"baselineDigest"`
	// Outcome is the rollout.finished outcome, or "in progress".
	Outcome        string    `json:"outcome"`
	Waves          int       `json:"waves"`
	HostsTotal     int       `json:"hostsTotal"`
	HostsSucceeded int       `json:"hostsSucceeded"`
	HostsFailed    int       `json:"hostsFailed"`
	StartedAt      time.Time `json:"startedAt"`
	FinishedAt     time.Time `json:"finishedAt,omitzero"`
}

// TrailOptions selects the part of the history Trail reports.
type TrailOptions struct {
	// Branch is the main branch; default "main".
	Branch string
	// Since stops the walk at the first commit older than it (zero: none).
	Since time.Time
	// Ring keeps only changes that rolled out to, or were verified in, this
	// ring, and only that ring's rollouts (empty: all).
	Ring string
	// All includes commits that are neither merges nor carry records.
	All bool
	// Subjects fills Change.Subject, which costs decoding every commit;
	// without it a commit is decoded only when no change.merged record
	// names its pull request.
	Subjects bool
	// CacheDir, when set, reads the records through the log cache there
	// (ReadCached): decoded once per notes tip. Only for display; Verify
	// never uses it.
	CacheDir string
}

var mergeMsgRE = regexp.MustCompile(`^Merge pull request #(\d+) from ([^/\s]+)/`)

// Trail walks the first-parent history of the main branch, newest first,
// and joins each merge with its records: those on the merge commit and, for
// the gate decision, those on the pull request's head (its second parent).
// It stops early at opts.Since. With a nil log it reads only the notes of
// the commits it visits (what 'audit log' does); pass a log from Read to
// reuse one. It does not verify the records; call Verify for that.
func Trail(ctx context.Context, repo *gitrepo.Repo, log *Log, opts TrailOptions) ([]Change, error) {
	branch := opts.Branch
	if branch == "" {
		branch = "main"
	}
	head, err := repo.Head(branch)
	if err != nil {
		return nil, fmt.Errorf("audit trail: branch %s: %w", branch, err)
	}
	var nodes []*gitrepo.Node
	err = repo.FirstParent(ctx, head, func(n *gitrepo.Node) error {
		if !opts.Since.IsZero() && n.Time.Before(opts.Since) {
			return gitrepo.ErrStop
		}
		nodes = append(nodes, n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit trail: %w", err)
	}
	if log == nil {
		want := make([]gitrepo.Hash, 0, 2*len(nodes))
		for _, n := range nodes {
			want = append(want, n.Hash)
			if len(n.Parents) > 1 {
				want = append(want, n.Parents[1])
			}
		}
		if opts.CacheDir != "" {
			log, err = ReadCached(ctx, repo, want, opts.CacheDir)
		} else {
			log, err = ReadFor(ctx, repo, want)
		}
		if err != nil {
			return nil, err
		}
	}
	// At most one change per commit, built in place: a Change is large,
	// and growing the slice by doubling copied every change made so far
	// (a third of the memory a warm 'audit log' allocated). Capacity not
	// used is never touched.
	out := make([]Change, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, Change{})
		ok, err := change(&out[len(out)-1], n, log, opts)
		if err != nil {
			return nil, fmt.Errorf("audit trail: %w", err)
		}
		if !ok {
			out[len(out)-1] = Change{}
			out = out[:len(out)-1]
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// change assembles one commit's Change into ch (zero on entry); ok is
// false when opts filter it out.
func change(ch *Change, n *gitrepo.Node, log *Log, opts TrailOptions) (bool, error) {
	h := n.Hash.String()
	recs := log.ByCommit[h]
	merge := len(n.Parents) > 1
	if !merge && len(recs) == 0 && !opts.All {
		return false, nil
	}
	*ch = Change{Commit: h, Time: n.Time.UTC(), Merge: merge, Approvers: []string{}}
	if opts.Subjects || !hasKind(recs, KindChangeMerged) {
		c, err := n.Commit()
		if err != nil {
			return false, err
		}
		ch.Subject = c.Subject()
		if m := mergeMsgRE.FindStringSubmatch(c.Message); m != nil {
			ch.PR, _ = strconv.Atoi(m[1])
			ch.Author = m[2]
		}
	}
	var gate *Record
	if merge {
		ch.Head = n.Parents[1].String()
		for _, r := range log.ByCommit[ch.Head] {
			ch.Records = append(ch.Records, r)
			if r.Kind == KindGateDecision {
				gate = r // chain order within a note: the latest wins
			}
		}
	}
	ch.Records = append(ch.Records, recs...)
	ch.fill(recs)
	if gate != nil {
		if p, err := gate.Decode(); err == nil {
			ch.Gate = p.(*GateDecision)
			if ch.Merged == nil {
				ch.Approvers = append([]string{}, ch.Gate.Approvers...)
			}
		}
	}
	slices.SortStableFunc(ch.Records, func(a, b *Record) int { return cmp.Compare(a.Chain.Seq, b.Chain.Seq) })
	if opts.Ring != "" && !ch.filterRing(opts.Ring) {
		return false, nil
	}
	return true, nil
}

// fill joins the records on the change's own commit.
func (ch *Change) fill(recs []*Record) {
	byID := map[string]int{}
	for _, r := range recs {
		p, err := r.Decode()
		if err != nil {
			continue // undecodable: verify reports it
		}
		switch p := p.(type) {
		case *ChangeMerged:
			ch.Merged = p
			ch.PR, ch.Author = p.PR, p.Author
			ch.Approvers = append([]string{}, p.Approvers...)
		case *RolloutStarted:
			byID[p.RolloutID] = len(ch.Rollouts)
			ch.Rollouts = append(ch.Rollouts, Rollout{ID: p.RolloutID, Ring: p.Ring, BaselineID: p.BaselineID,
				BaselineDigest: p.BaselineDigest, Outcome: "in progress", HostsTotal: p.Hosts, StartedAt: p.StartedAt})
		case *RolloutWave:
			if i, ok := byID[p.RolloutID]; ok {
				ro := &ch.Rollouts[i]
				ro.Waves = max(ro.Waves, p.Wave)
				switch {
				case p.Halted && p.Operator != nil:
					ro.Outcome = "paused"
				case p.Halted:
					ro.Outcome = "halted"
				case ro.Outcome == "halted" || ro.Outcome == "paused":
					ro.Outcome = "in progress" // resumed
				}
			}
		case *RolloutFinished:
			i, ok := byID[p.RolloutID]
			if !ok {
				byID[p.RolloutID] = len(ch.Rollouts)
				i = len(ch.Rollouts)
				ch.Rollouts = append(ch.Rollouts, Rollout{ID: p.RolloutID, Ring: p.Ring, BaselineID: p.BaselineID, BaselineDigest: p.BaselineDigest})
			}
			ro := &ch.Rollouts[i]
			ro.Outcome, ro.FinishedAt = p.Outcome, p.FinishedAt
			ro.HostsTotal, ro.HostsSucceeded, ro.HostsFailed = p.HostsTotal, p.HostsSucceeded, p.HostsFailed
		case *RingVerified:
			ch.Verifications = append(ch.Verifications, *p)
		case *ExceptionGranted:
			ch.Exceptions = append(ch.Exceptions, *p)
		case *TokenChanged:
			ch.Tokens = append(ch.Tokens, *p)
		case *CycleProposal:
			ch.Cycles = append(ch.Cycles, *p)
		case *RolloutUnreviewed:
			if _, ok := byID[p.RolloutID]; !ok {
				byID[p.RolloutID] = len(ch.Rollouts)
				ch.Rollouts = append(ch.Rollouts, Rollout{ID: p.RolloutID, Ring: p.Ring, BaselineID: p.BaselineID,
					BaselineDigest: p.BaselineDigest, Outcome: "unreviewed"})
			}
		case *RolloutApproved:
			if i, ok := byID[p.RolloutID]; ok {
				ch.Rollouts[i].Outcome = "approved by " + p.Actor + " (break-glass): " + p.Reason
			}
		}
	}
}

// filterRing keeps only ring's rollouts and verifications and reports
// whether anything about the ring remains.
func (ch *Change) filterRing(ring string) bool {
	ch.Rollouts = slices.DeleteFunc(ch.Rollouts, func(r Rollout) bool { return r.Ring != ring })
	ch.Verifications = slices.DeleteFunc(ch.Verifications, func(v RingVerified) bool { return v.Ring != ring })
	ch.Tokens = nil
	return len(ch.Rollouts) > 0 || len(ch.Verifications) > 0
}

func hasKind(recs []*Record, k Kind) bool {
	for _, r := range recs {
		if r.Kind == k {
			return true
		}
	}
	return false
}
