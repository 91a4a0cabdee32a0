package rollout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
)

// Hint tells the controller about a merge before polling sees it, with the
// pull request's facts (the GitHub integration sends it). It only speeds
// things up: the commit is processed when it is on the main branch.
type Hint struct {
	// Commit is the merge commit on the main branch.
	Commit    string
	PR        int
	HeadSHA   string
	Author    string
	Approvers []string
}

// Mark names in the store.
const (
	markCursor  = "cursor:"  // + branch → last processed commit
	markInvalid = "invalid:" // + commit → validation error
	markHint    = "hint:"    // + commit → Hint JSON
	markResume  = "errbase:" // + rollout id → failures forgiven by resume
)

// Hint records h (on any replica) and wakes this replica's controller.
func (c *Controller) Hint(ctx context.Context, h Hint) error {
	if _, err := gitrepo.ParseHash(h.Commit); err != nil {
		return fmt.Errorf("hint: %w", err)
	}
	b, _ := json.Marshal(h)
	if _, err := c.apply(ctx, store.Fence{}, store.RolloutChange{Marks: map[string]string{markHint + h.Commit: string(b)}}); err != nil {
		return fmt.Errorf("hint: %w", err)
	}
	c.poke()
	return nil
}

// poll processes the main branch's first-parent commits after the cursor,
// oldest first. The first run adopts the current head: it starts rollouts
// only for rings that the head commit itself moved.
func (c *Controller) poll(ctx context.Context, f store.Fence) error {
	if c.o.Fetch != nil {
		if err := c.o.Fetch(ctx); err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
	}
	head, err := c.repo.Head(c.o.Branch)
	if err != nil {
		return fmt.Errorf("head of %s: %w", c.o.Branch, err)
	}
	cursor, err := c.st.Mark(ctx, markCursor+c.o.Branch)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if cursor == head.String() {
		return nil
	}
	var todo []gitrepo.Hash
	err = c.repo.FirstParent(ctx, head, func(n *gitrepo.Node) error {
		if n.Hash.String() == cursor {
			return gitrepo.ErrStop
		}
		todo = append(todo, n.Hash)
		if cursor == "" || len(todo) > 10*c.o.MaxCommits {
			return gitrepo.ErrStop
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk %s: %w", c.o.Branch, err)
	}
	slices.Reverse(todo)
	if len(todo) > c.o.MaxCommits {
		todo = todo[len(todo)-c.o.MaxCommits:] // a long gap: only the newest matter for pins
	}
	for _, h := range todo {
		if err := c.processCommit(ctx, f, h); err != nil {
			return err
		}
	}
	return nil
}

// processCommit creates the rollouts commit calls for and moves the
// cursor, in one store transaction.
func (c *Controller) processCommit(ctx context.Context, f store.Fence, h gitrepo.Hash) error {
	commit := h.String()
	ch := store.RolloutChange{Marks: map[string]string{markCursor + c.o.Branch: commit}}
	model, err := c.modelAt(ctx, commit)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Warn("rollout: main-branch commit does not validate; nothing starts", "commit", commit, "err", err)
		ch.Marks[markInvalid+commit] = firstLine(err.Error())
		_, err := c.apply(ctx, f, ch)
		return err
	}
	cm, err := c.repo.Commit(h)
	if err != nil {
		return err
	}
	var parent *baseline.Repository
	if len(cm.Parents) > 0 {
		parent, _ = c.modelAt(ctx, cm.Parents[0].String()) // an invalid parent pins nothing
	}
	all, err := c.st.Rollouts(ctx, "")
	if err != nil {
		return err
	}
	// ring → its open rollout (at most one), else its newest one; the open
	// one wins even when creation times tie (a frozen test clock).
	last := map[string]store.Rollout{}
	for _, r := range all {
		cur, ok := last[r.Ring]
		if isControllerState(r.State) && (!ok || (isOpen(r.State) && !isOpen(cur.State))) {
			last[r.Ring] = r
		}
	}
	now := c.o.Now().UTC()
	var reports []*inventory.Report
	var effectDigest string
	var created []string
	// trustFrom is the configuration whose trustedKeys a gate decision
	// must verify against: the parent's (the base of the change), else
	// the commit's own for a root commit.
	trustFrom := parent
	if trustFrom == nil {
		trustFrom = model
	}
	var review *reviewState
	for _, ring := range model.Rings {
		b := model.Baselines[ring.Baseline]
		if b == nil {
			continue
		}
		prev, had := last[ring.Name]
		var changed bool
		switch {
		case had:
			changed = prev.BaselineID != b.ID || prev.BaselineDigest != b.Digest
		case parent != nil:
			pr := parent.Ring(ring.Name)
			changed = pr == nil || pr.Baseline != b.ID || parent.Baselines[pr.Baseline] == nil || parent.Baselines[pr.Baseline].Digest != b.Digest
		default: // a root commit: adopt what it pins
		}
		if !changed {
			continue
		}
		if reports == nil && c.inv != nil {
			if reports, err = c.inv.Reports(ctx); err != nil {
				return fmt.Errorf("reports: %w", err)
			}
		}
		if effectDigest == "" && parent != nil {
			changedFiles, _ := c.repo.ChangedPaths(ctx, cm.Parents[0], h)
			effectDigest = plan.ComputeEffect(plan.EffectInput{Base: parent, Head: model, BaseRev: cm.Parents[0].String(), HeadRev: commit,
				ChangedFiles: changedFiles, Now: now}).Digest
		}
		id := ring.Name + "-" + short(commit)
		p := plan.Compute(plan.Input{Repo: model, Reports: reports, Now: now}, plan.Options{Ring: ring.Name})
		var hosts []store.RolloutHost
		ringHosts := 0
		for _, ph := range p.Hosts.All() {
			if ph.Ring != ring.Name {
				continue
			}
			ringHosts++
			if ph.Status == plan.Compliant || len(ph.Actions) == 0 {
				continue
			}
			hosts = append(hosts, store.RolloutHost{RolloutID: id, HostID: ph.ID, Seq: len(hosts) + 1, Actions: len(ph.Actions), State: HostPending})
		}
		d := detail{RingHosts: ringHosts, MaxConcurrency: max(1, ring.Strategy.MaxConcurrency.Of(ringHosts)),
			MaxErrors: ring.Strategy.MaxErrors.Of(ringHosts), EffectDigest: effectDigest}
		if pr := model.PreviousRing(ring.Name); pr != nil {
			if tb, ok := c.bindingFor(ctx, pr.Name, b.Digest); ok {
				d.Tested = tb
			} else {
				c.log.Warn("rollout: no verification of the baseline in the previous ring; assignments name no tested versions",
					"ring", ring.Name, "previous", pr.Name, "baseline", b.ID)
			}
		}
		if had && isOpen(prev.State) {
			c.supersede(ctx, &ch, prev, now)
		}
		if review == nil {
			review = c.review(ctx, cm, trustFrom)
		}
		r := store.Rollout{ID: id, Ring: ring.Name, Commit: commit, BaselineID: b.ID, BaselineDigest: b.Digest, State: StateRunning, CreatedAt: now}
		if !review.ok {
			r.State = StateUnreviewed
			d.Hold = "unreviewed: " + review.why + "; an admin may start it: patchbay rollout approve " + id + " --reason ..."
		}
		ch.Creates = append(ch.Creates, r)
		ch.NewProgress = append(ch.NewProgress, store.RolloutProgress{RolloutID: id, HostsTotal: len(hosts), Detail: d.encode()})
		ch.Hosts = append(ch.Hosts, hosts...)
		if review.ok {
			ch.Events = append(ch.Events, event(id, "controller", commit, &audit.RolloutStarted{RolloutID: id, Ring: ring.Name,
				BaselineID: b.ID, BaselineDigest: b.Digest, Hosts: len(hosts), StartedAt: now}, now))
		} else {
			ch.Events = append(ch.Events, event(id, "controller", commit, &audit.RolloutUnreviewed{RolloutID: id, Ring: ring.Name,
				BaselineID: b.ID, BaselineDigest: b.Digest, Commit: commit, Reason: review.why, HeldAt: now}, now))
			c.log.Warn("rollout: unreviewed commit; held until an admin approves it", "rollout", id, "commit", commit, "why", review.why)
		}
		created = append(created, id)
	}
	if len(created) > 0 {
		if m, ok := c.mergeRecord(ctx, cm, trustFrom, effectDigest, now); ok {
			for i := range ch.NewProgress {
				d := decodeDetail(ch.NewProgress[i].Detail)
				d.PR = m.PR
				ch.NewProgress[i].Detail = d.encode()
			}
			ch.Events = append([]store.RolloutEvent{event(created[0], "controller", commit, m, now)}, ch.Events...)
		}
		c.log.Info("rollout: started", "commit", commit, "rollouts", created)
	}
	if _, err := c.apply(ctx, f, ch); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("process %s: %w (another writer moved a rollout; retried next tick)", short(commit), err)
		}
		return fmt.Errorf("process %s: %w", short(commit), err)
	}
	for _, id := range created {
		c.joined[id] = now // planned just now: no joining before JoinEvery
	}
	return nil
}

// isControllerState is false for the server's implicit "direct" rollouts.
func isControllerState(s string) bool {
	switch s {
	case StateRunning, StatePaused, StateHalted, StateCompleted, StateVerified, StateFailed, StateAborted, StateSuperseded, StateUnreviewed:
		return true
	}
	return false
}

// supersede adds to ch the end of prev: superseded, pending hosts
// cancelled (hosts already running finish their steps), rollout.finished.
func (c *Controller) supersede(ctx context.Context, ch *store.RolloutChange, prev store.Rollout, now time.Time) {
	ch.States = append(ch.States, store.StateChange{ID: prev.ID, From: prev.State, To: StateSuperseded})
	ch.Waves = append(ch.Waves, store.WaveStart{RolloutID: prev.ID, N: 1 << 30, From: HostPending, To: HostCancelled, At: now})
	counts, _ := c.st.RolloutHostCounts(ctx, prev.ID)
	fin := finished(prev, "cancelled", counts, now)
	ch.Events = append(ch.Events, event(prev.ID, "controller", prev.Commit, fin, now))
}

func finished(r store.Rollout, outcome string, counts map[string]int, now time.Time) *audit.RolloutFinished {
	total := 0
	for _, n := range counts {
		total += n
	}
	return &audit.RolloutFinished{RolloutID: r.ID, Ring: r.Ring, BaselineID: r.BaselineID, BaselineDigest: r.BaselineDigest,
		Outcome: outcome, HostsTotal: total, HostsSucceeded: counts[HostSucceeded],
		HostsFailed: counts[HostFailed] + counts[HostTimedOut], FinishedAt: now}
}

var mergeMessage = regexp.MustCompile(`^Merge pull request #(\d+) from ([^/\s]+)/`)

// mergeRecord builds change.merged for a merge commit: PR facts from the
// hint, else the latest gate.decision on the merged head (second parent),
// else the merge message. ok is false when no PR number is known (a
// direct push): no change.merged is written then.
func (c *Controller) mergeRecord(ctx context.Context, cm *gitrepo.Commit, trustFrom *baseline.Repository, effectDigest string, now time.Time) (*audit.ChangeMerged, bool) {
	commit := cm.Hash.String()
	m := &audit.ChangeMerged{MergeCommit: commit, EffectDigest: effectDigest, MergedAt: cm.Committer.When.UTC(), Approvers: []string{}}
	if m.MergedAt.IsZero() {
		m.MergedAt = now
	}
	if len(cm.Parents) > 0 {
		m.BaseCommit = cm.Parents[0].String()
	}
	m.HeadCommit = commit
	if len(cm.Parents) > 1 {
		m.HeadCommit = cm.Parents[1].String()
	}
	if v, err := c.st.Mark(ctx, markHint+commit); err == nil {
		var h Hint
		if json.Unmarshal([]byte(v), &h) == nil {
			m.PR, m.Author = h.PR, h.Author
			if h.HeadSHA != "" {
				m.HeadCommit = h.HeadSHA
			}
			if h.Approvers != nil {
				m.Approvers = slices.Clone(h.Approvers)
			}
		}
	}
	if m.PR == 0 || len(m.Approvers) == 0 {
		if g := c.gateDecision(ctx, trustFrom, m.HeadCommit); g != nil {
			if m.PR == 0 {
				m.PR = g.PR
			}
			if len(m.Approvers) == 0 && g.Approvers != nil {
				m.Approvers = slices.Clone(g.Approvers)
			}
		}
	}
	if sm := mergeMessage.FindStringSubmatch(cm.Message); sm != nil {
		if m.PR == 0 {
			m.PR, _ = strconv.Atoi(sm[1])
		}
		if m.Author == "" {
			m.Author = sm[2]
		}
	}
	if m.Author == "" {
		m.Author = cm.Author.Email
		if m.Author == "" {
			m.Author = cm.Author.Name
		}
	}
	if m.PR == 0 || m.Validate() != nil {
		return nil, false
	}
	return m, true
}

// gateDecision returns the latest gate.decision record about one of heads
// (its head SHA or the commit it is attached to), if the whole audit chain
// verifies against the trusted keys (trustFrom's config.trustedKeys, the
// controller's signer and Config.TrustedKeys). An unverifiable trail
// yields nothing: a forged decision never counts.
func (c *Controller) gateDecision(ctx context.Context, trustFrom *baseline.Repository, heads ...string) *audit.GateDecision {
	log, err := audit.Read(ctx, c.repo)
	if err != nil || len(log.Of(audit.KindGateDecision)) == 0 {
		return nil
	}
	keys := slices.Clone(c.trusted)
	if trustFrom != nil {
		for _, name := range slices.Sorted(maps.Keys(trustFrom.Config.TrustedKeys)) {
			k, err := audit.ParseTrustedKeys([]byte(trustFrom.Config.TrustedKeys[name].PublicKey))
			if err == nil {
				keys = append(keys, k...)
			}
		}
	}
	if len(keys) == 0 || len(audit.VerifyLog(log, keys)) > 0 {
		return nil
	}
	var best *audit.GateDecision
	for _, r := range log.Of(audit.KindGateDecision) {
		p, err := r.Decode()
		if err != nil {
			continue
		}
		g := p.(*audit.GateDecision)
		if (slices.Contains(heads, g.HeadSHA) || slices.Contains(heads, r.Commit)) && (best == nil || !g.DecidedAt.Before(best.DecidedAt)) {
			best = g
		}
	}
	return best
}

// reviewState is whether a commit was reviewed, and if not, why not.
type reviewState struct {
	ok  bool
	why string
}

// review decides whether commit cm may start rollouts: a merged pull
// request with counted approvals (the GitHub integration's hint, read from
// the API), or a passing gate.decision signed by a trusted key about the
// commit, its merged head (second parent) or the hint's head.
func (c *Controller) review(ctx context.Context, cm *gitrepo.Commit, trustFrom *baseline.Repository) *reviewState {
	commit := cm.Hash.String()
	heads := []string{commit}
	if len(cm.Parents) > 1 {
		heads = append(heads, cm.Parents[1].String())
	}
	if v, err := c.st.Mark(ctx, markHint+commit); err == nil {
		var h Hint
		if json.Unmarshal([]byte(v), &h) == nil {
			if h.PR != 0 && len(h.Approvers) > 0 {
				return &reviewState{ok: true}
			}
			if h.HeadSHA != "" {
				heads = append(heads, h.HeadSHA)
			}
		}
	}
	if g := c.gateDecision(ctx, trustFrom, heads...); g != nil && g.Result == "pass" {
		return &reviewState{ok: true}
	}
	return &reviewState{why: fmt.Sprintf("commit %s has no merged pull request with counted approvals and no passing gate.decision signed by a trusted key", short(commit))}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "controller-" + hex.EncodeToString(b[:])
}
