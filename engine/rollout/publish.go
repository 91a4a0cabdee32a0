package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/store"
)

// publishState is what the leader last did with the outbox; /readyz and
// the dashboard show it.
type publishState struct {
	mu        sync.Mutex
	lastErr   string
	lastErrAt time.Time
	lastPush  time.Time
	published int64
	pushes    int64
	// ack is the remote's notes tip as last fetched or pushed.
	ack gitrepo.Hash
}

func (p *publishState) acked(h gitrepo.Hash) {
	if h.IsZero() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ack = h
}

func (p *publishState) failed(err error, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastErr, p.lastErrAt = err.Error(), at
}

func (p *publishState) pushed(n int, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastErr, p.lastErrAt = "", time.Time{}
	if n > 0 {
		p.published += int64(n)
		p.pushes++
		p.lastPush = at
	}
}

// PublishStatus returns the publishing backlog (outbox entries not yet
// written, or with a remote not yet pushed) and this replica's last push
// and push error. Any replica may call it; the push fields are those of
// this replica's controller (only the leader pushes).
func (c *Controller) PublishStatus(ctx context.Context) (api.PublishStatus, error) {
	n, err := c.st.PendingRolloutEventCount(ctx)
	if err != nil {
		return api.PublishStatus{}, err
	}
	c.pub.mu.Lock()
	defer c.pub.mu.Unlock()
	s := api.PublishStatus{Remote: c.o.Remote, Backlog: n, LastError: c.pub.lastErr, Published: c.pub.published,
		Pushes: c.pub.pushes, Signing: c.aw != nil, Leader: c.Leader(), RepoLease: c.RepoLease()}
	if !c.pub.lastPush.IsZero() {
		t := c.pub.lastPush
		s.LastPushAt = &t
	}
	if !c.pub.lastErrAt.IsZero() {
		t := c.pub.lastErrAt
		s.LastErrorAt = &t
	}
	return s, nil
}

// AuditHead returns the chain head the remote has acknowledged (the
// newer of this leader's last push or fetch and the replica's last fetch
// of the remote), or without Options.Remote the local notes' head.
func (c *Controller) AuditHead(ctx context.Context) (api.AuditHead, error) {
	n, err := c.st.PendingRolloutEventCount(ctx)
	if err != nil {
		return api.AuditHead{}, err
	}
	out := api.AuditHead{Remote: c.o.Remote, Backlog: n}
	var tips []gitrepo.Hash
	if c.o.Remote == "" {
		tips = append(tips, gitrepo.Hash{})
	} else {
		c.pub.mu.Lock()
		tips = append(tips, c.pub.ack)
		c.pub.mu.Unlock()
		tips = append(tips, c.repo.RemoteNotesTip(c.o.Remote))
	}
	for _, tip := range tips {
		if c.o.Remote != "" && tip.IsZero() {
			continue
		}
		h, ok, err := audit.HeadOf(c.repo, tip)
		if err != nil {
			return api.AuditHead{}, err
		}
		if ok && (h.Seq > out.Seq || out.NotesCommit == "") {
			out.Seq, out.Digest = h.Seq, h.Digest
			if !h.Tip.IsZero() {
				out.NotesCommit = h.Tip.String()
			}
		}
	}
	return out, nil
}

// drain writes the outbox to the audit trail, oldest first: with
// Options.Remote it publishes (see publish), else it writes the local
// notes. Each entry is written with audit.Writer.WriteOnce, whose check for
// an equal record runs inside the notes ref's compare-and-swap, so an
// entry whose note was written by a predecessor (or by this leader in an
// earlier term whose mark failed) is marked, not written again.
func (c *Controller) drain(ctx context.Context, f store.Fence) error {
	if c.aw == nil {
		return nil
	}
	evs, err := c.st.PendingRolloutEvents(ctx)
	if err != nil || len(evs) == 0 {
		return err
	}
	if evs, err = c.resolveCommits(ctx, evs); err != nil {
		return err
	}
	if c.o.Remote != "" {
		err := c.publish(ctx, f, evs)
		if err != nil && ctx.Err() == nil {
			c.pub.failed(err, c.o.Now().UTC())
		}
		return err
	}
	for _, e := range evs {
		commit, p, err := decodeEvent(e)
		if err != nil {
			return err
		}
		if held, err := c.st.LeaseHeld(ctx, f.Lease, f.Holder, f.Fencing); err != nil || !held {
			return errors.Join(err, store.ErrLeaseLost)
		}
		if _, _, err := c.aw.WriteOnce(ctx, commit, p); err != nil {
			return fmt.Errorf("write %s record: %w", e.Kind, err)
		}
		// The note is written: mark it even when ctx ends now.
		if _, err := c.apply(context.WithoutCancel(ctx), f, store.RolloutChange{AuditedUpTo: []int64{e.ID}}); err != nil {
			return err
		}
	}
	c.pub.pushed(0, c.o.Now().UTC())
	return nil
}

// publish pushes pending outbox entries to Options.Remote's notes ref:
// fetch the remote's notes, make the local notes ref exactly the remote's
// (local commits that were never acknowledged are dropped: their entries
// are still pending), re-chain every pending entry onto the remote head
// (skipping those the remote already holds — a predecessor's push that was
// acknowledged but not marked), and push. The push is a compare-and-swap
// on the remote ref (a fast forward of the tip just fetched): when another
// writer (CI's 'audit record --push', another server) appended first it is
// rejected and the cycle starts again after a backoff. Entries are marked
// written only after the push is acknowledged. A record another writer
// published is never dropped or rewritten: the remote tip is always an
// ancestor of what is pushed.
func (c *Controller) publish(ctx context.Context, f store.Fence, evs []store.RolloutEvent) error {
	evs = evs[:min(len(evs), c.o.PushBatch)]
	remote := c.o.Remote
	var last error
	for attempt := range c.o.PushAttempts {
		if err := pushBackoff(ctx, attempt); err != nil {
			return err
		}
		theirs, err := c.repo.FetchNotes(ctx, remote, gitrepo.NotesRef)
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		c.pub.acked(theirs)
		if err := c.resetNotes(theirs); err != nil {
			if errors.Is(err, gitrepo.ErrConflict) {
				last = err
				continue
			}
			return fmt.Errorf("publish: %w", err)
		}
		ids := make([]int64, 0, len(evs))
		wrote := 0
		var missing []string
		for _, e := range evs {
			commit, p, err := decodeEvent(e)
			if err != nil {
				return err
			}
			_, dup, err := c.aw.WriteOnce(ctx, commit, p)
			if errors.Is(err, gitrepo.ErrNotFound) {
				// The commit is not in this clone yet (a pull request's
				// head before its refs are fetched): it waits, the rest
				// goes on.
				missing = append(missing, fmt.Sprintf("%s on %s", e.Kind, short(commit.String())))
				continue
			}
			if err != nil {
				return fmt.Errorf("publish: write %s record: %w", e.Kind, err)
			}
			if !dup {
				wrote++
			}
			ids = append(ids, e.ID)
		}
		if wrote > 0 {
			if held, err := c.st.LeaseHeld(ctx, f.Lease, f.Holder, f.Fencing); err != nil || !held {
				return errors.Join(err, store.ErrLeaseLost)
			}
			err := c.repo.PushNotes(ctx, remote, gitrepo.NotesRef)
			if errors.Is(err, gitrepo.ErrRejected) {
				last = err
				c.log.Info("publish: another writer appended first; re-chaining", "attempt", attempt+1)
				continue
			}
			if err != nil {
				return fmt.Errorf("publish: %w", err)
			}
		}
		if tip, err := c.repo.NotesTip(gitrepo.NotesRef); err == nil && tip != nil {
			c.pub.acked(tip.Hash)
		}
		// Acknowledged: mark even when ctx ends now, so a successor does
		// not have to find them in the remote again.
		if _, err := c.apply(context.WithoutCancel(ctx), f, store.RolloutChange{AuditedUpTo: ids}); err != nil {
			return err
		}
		c.pub.pushed(wrote, c.o.Now().UTC())
		if wrote > 0 {
			c.log.Info("publish: audit records pushed", "remote", remote, "records", wrote)
		}
		if len(missing) > 0 {
			return fmt.Errorf("publish: %d record(s) wait for their commit to be fetched: %s", len(missing), strings.Join(missing, ", "))
		}
		return nil
	}
	return fmt.Errorf("publish: gave up after %d attempts: %w", c.o.PushAttempts, last)
}

// resetNotes points the local notes ref at the remote's tip theirs (zero:
// deletes it).
func (c *Controller) resetNotes(theirs gitrepo.Hash) error {
	tip, err := c.repo.NotesTip(gitrepo.NotesRef)
	if err != nil {
		return err
	}
	var local gitrepo.Hash
	if tip != nil {
		local = tip.Hash
	}
	if local == theirs {
		return nil
	}
	return c.repo.SetNotesRef(gitrepo.NotesRef, theirs, local)
}

// pushBackoff waits before publish attempt n (none before the first):
// 100 ms doubling to 2 s, with jitter so that competing writers spread.
func pushBackoff(ctx context.Context, attempt int) error {
	if attempt == 0 {
		return ctx.Err()
	}
	d := min(100*time.Millisecond<<(attempt-1), 2*time.Second)
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// resolveCommits gives a commit to the outbox entries enqueued without
// one: records about the repository rather than a commit, such as the
// token.changed records that 'patchbay token' puts into the store (it has
// only the database). They go on the main branch's last processed commit
// (the controller's cursor), else its head. The choice is stored in the
// entry (compare-and-set) before the record is written, so that a
// successor that re-drains the entry writes it on the same commit and
// WriteOnce finds it.
func (c *Controller) resolveCommits(ctx context.Context, evs []store.RolloutEvent) ([]store.RolloutEvent, error) {
	var at string
	for i, e := range evs {
		var pl eventPayload
		if err := json.Unmarshal(e.Payload, &pl); err != nil {
			return nil, fmt.Errorf("event %d: %w", e.ID, err)
		}
		if pl.Commit != "" {
			continue
		}
		if at == "" {
			cursor, err := c.st.Mark(ctx, markCursor+c.o.Branch)
			switch {
			case err == nil:
				at = cursor
			case errors.Is(err, store.ErrNotFound):
				head, err := c.repo.Head(c.o.Branch)
				if err != nil {
					return nil, fmt.Errorf("%s record %d: no commit to put it on: head of %s: %w", e.Kind, e.ID, c.o.Branch, err)
				}
				at = head.String()
			default:
				return nil, err
			}
		}
		pl.Commit = at
		b, err := json.Marshal(pl)
		if err != nil {
			return nil, err
		}
		ok, err := c.st.SetEventPayload(ctx, e.ID, e.Payload, b)
		if err != nil {
			return nil, err
		}
		if !ok {
			// Someone else resolved it first: take theirs.
			return c.st.PendingRolloutEvents(ctx)
		}
		evs[i].Payload = b
	}
	return evs, nil
}

// RepositoryEvent returns an outbox entry for a record about the repository
// rather than one commit (see resolveCommits): the leader puts it on the
// main branch's last processed commit when it writes it. actor names who
// caused it. Callers that hold only the store (the 'patchbay token'
// command) add it to the outbox in the transaction that makes the change.
func RepositoryEvent(p audit.Predicate, actor string, at time.Time) (store.RolloutEvent, error) {
	if err := p.Validate(); err != nil {
		return store.RolloutEvent{}, err
	}
	return event("", actor, "", p, at), nil
}

// decodeEvent returns the commit and predicate of an outbox entry.
func decodeEvent(e store.RolloutEvent) (gitrepo.Hash, audit.Predicate, error) {
	var pl eventPayload
	if err := json.Unmarshal(e.Payload, &pl); err != nil {
		return gitrepo.Hash{}, nil, fmt.Errorf("event %d: %w", e.ID, err)
	}
	k, err := audit.ParseKind(e.Kind)
	if err != nil {
		return gitrepo.Hash{}, nil, fmt.Errorf("event %d: %w", e.ID, err)
	}
	p, err := audit.NewPredicate(k)
	if err != nil {
		return gitrepo.Hash{}, nil, err
	}
	if err := json.Unmarshal(pl.Predicate, p); err != nil {
		return gitrepo.Hash{}, nil, fmt.Errorf("event %d: %w", e.ID, err)
	}
	h, err := gitrepo.ParseHash(pl.Commit)
	if err != nil {
		return gitrepo.Hash{}, nil, fmt.Errorf("event %d: %w", e.ID, err)
	}
	return h, p, nil
}

// Enqueue puts a record about commit into the outbox, to be written (and
// with Options.Remote published) by the leader like the controller's own;
// actor names who caused it. Any replica may call it. The GitHub
// integration records its gate decisions this way, so that every record
// the server writes reaches the remote through one writer.
func (c *Controller) Enqueue(ctx context.Context, commit gitrepo.Hash, p audit.Predicate, actor string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	now := c.o.Now().UTC()
	if _, err := c.apply(ctx, store.Fence{}, store.RolloutChange{Events: []store.RolloutEvent{event("", actor, commit.String(), p, now)}}); err != nil {
		return fmt.Errorf("enqueue %s record: %w", p.Kind(), err)
	}
	c.poke()
	return nil
}
