package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/store"
)

// markStoreID names the controller mark holding this database's random
// id, which the repository lease names.
const markStoreID = "store-id"

// Trailers of the repository lease's commits.
const (
	leaseStore   = "Patchbay-Lease-Store"
	leaseHolder  = "Patchbay-Lease-Holder"
	leaseExpires = "Patchbay-Lease-Expires"
)

// DefaultRepoLeaseTTL is Options.RepoLeaseTTL's default.
const DefaultRepoLeaseTTL = time.Minute

// repoLease is what the leader knows of the repository lease.
type repoLease struct {
	mu      sync.Mutex
	until   time.Time // held by us until then (zero: not held)
	storeID string
	refused string // why the last attempt was refused ("" when held)
}

// repoLeaseInfo is a lease as read from a LeaseRef commit.
type repoLeaseInfo struct {
	Store, Holder string
	Expires       time.Time
}

func parseRepoLease(msg string) repoLeaseInfo {
	var l repoLeaseInfo
	for _, line := range strings.Split(msg, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case leaseStore:
			l.Store = v
		case leaseHolder:
			l.Holder = v
		case leaseExpires:
			l.Expires, _ = time.Parse(time.RFC3339Nano, v)
		}
	}
	return l
}

// holdRepo takes or renews the repository lease for this controller's
// database (with Options.Remote; without one it does nothing). The store
// lease elects one leader among the replicas of one database; the
// repository lease keeps a second deployment — another database pointed at
// the same repository — from running the same rollouts: its leader finds
// a live lease naming another store and returns ErrRepoLeased. The lease
// is a commit on gitrepo.LeaseRef on the remote, advanced with a
// compare-and-swap push; it is renewed when less than half its TTL is
// left, so a busy leader pushes it about twice per TTL. A lease whose
// holder stopped expires after Options.RepoLeaseTTL (clocks of the
// deployments must agree to well within it).
func (c *Controller) holdRepo(ctx context.Context, f store.Fence) error {
	if c.o.Remote == "" || c.o.RepoLeaseTTL < 0 {
		return nil
	}
	now := c.o.Now().UTC()
	ttl := c.o.RepoLeaseTTL
	c.rl.mu.Lock()
	until := c.rl.until
	c.rl.mu.Unlock()
	if now.Before(until.Add(-ttl / 2)) {
		return nil
	}
	id, err := c.storeID(ctx, f)
	if err != nil {
		return err
	}
	tip, err := c.repo.FetchRef(ctx, c.o.Remote, gitrepo.LeaseRef)
	if err != nil {
		return fmt.Errorf("repository lease: %w", err)
	}
	var old gitrepo.Hash
	if tip != nil {
		old = tip.Hash
		if l := parseRepoLease(tip.Message); l.Store != id && l.Expires.After(now) {
			return c.refuseRepo(fmt.Errorf("%w: store %s (replica %s) holds it until %s; stop that deployment or wait for its lease to expire",
				ErrRepoLeased, l.Store, l.Holder, l.Expires.Format(time.RFC3339)))
		}
	}
	exp := now.Add(ttl)
	msg := fmt.Sprintf("patchbay controller lease\n\n%s: %s\n%s: %s\n%s: %s\n", leaseStore, id, leaseHolder, c.o.Holder,
		leaseExpires, exp.Format(time.RFC3339Nano))
	if held, err := c.st.LeaseHeld(ctx, f.Lease, f.Holder, f.Fencing); err != nil || !held {
		return errors.Join(err, store.ErrLeaseLost)
	}
	if _, err := c.repo.AdvanceRemoteRef(ctx, c.o.Remote, gitrepo.LeaseRef, old, msg, c.committer()); err != nil {
		if errors.Is(err, gitrepo.ErrRejected) {
			return c.refuseRepo(fmt.Errorf("%w: another controller renewed it first", ErrRepoLeased))
		}
		return fmt.Errorf("repository lease: %w", err)
	}
	c.rl.mu.Lock()
	if c.rl.until.IsZero() {
		c.log.Info("rollout controller: holds the repository lease", "store", id, "until", exp)
	}
	c.rl.until, c.rl.refused = exp, ""
	c.rl.mu.Unlock()
	return nil
}

func (c *Controller) refuseRepo(err error) error {
	c.rl.mu.Lock()
	defer c.rl.mu.Unlock()
	if c.rl.refused != err.Error() {
		c.log.Warn("rollout controller: not running rollouts", "err", err)
	}
	c.rl.until, c.rl.refused = time.Time{}, err.Error()
	return err
}

// releaseRepo lets the repository lease expire now, so another deployment
// need not wait out the TTL (best effort, on shutdown).
func (c *Controller) releaseRepo(ctx context.Context) {
	c.rl.mu.Lock()
	held, id := !c.rl.until.IsZero(), c.rl.storeID
	c.rl.mu.Unlock()
	if !held || c.o.Remote == "" {
		return
	}
	tip, err := c.repo.FetchRef(ctx, c.o.Remote, gitrepo.LeaseRef)
	if err != nil || tip == nil || parseRepoLease(tip.Message).Store != id {
		return
	}
	now := c.o.Now().UTC()
	msg := fmt.Sprintf("patchbay controller lease released\n\n%s: %s\n%s: %s\n%s: %s\n", leaseStore, id, leaseHolder, c.o.Holder,
		leaseExpires, now.Format(time.RFC3339Nano))
	_, _ = c.repo.AdvanceRemoteRef(ctx, c.o.Remote, gitrepo.LeaseRef, tip.Hash, msg, c.committer())
}

// storeID returns this database's id, creating it (as the leader, so two
// replicas never create two) on first use.
func (c *Controller) storeID(ctx context.Context, f store.Fence) (string, error) {
	c.rl.mu.Lock()
	id := c.rl.storeID
	c.rl.mu.Unlock()
	if id != "" {
		return id, nil
	}
	id, err := c.st.Mark(ctx, markStoreID)
	if errors.Is(err, store.ErrNotFound) {
		id = randomID()
		_, err = c.apply(ctx, f, store.RolloutChange{Marks: map[string]string{markStoreID: id}})
	}
	if err != nil {
		return "", fmt.Errorf("store id: %w", err)
	}
	c.rl.mu.Lock()
	c.rl.storeID = id
	c.rl.mu.Unlock()
	return id, nil
}

func (c *Controller) committer() gitrepo.Signature {
	sig := c.o.Committer
	if sig.Name == "" {
		sig.Name, sig.Email = "patchbay", "patchbay@localhost"
	}
	sig.When = c.o.Now().UTC().Truncate(time.Second)
	return sig
}

// RepoLease describes the repository lease as this controller last saw
// it: "held until T", the reason it was refused, or "" without a remote.
func (c *Controller) RepoLease() string {
	if c.o.Remote == "" || c.o.RepoLeaseTTL < 0 {
		return ""
	}
	c.rl.mu.Lock()
	defer c.rl.mu.Unlock()
	switch {
	case c.rl.refused != "":
		return "refused: " + c.rl.refused
	case !c.rl.until.IsZero():
		return "held until " + c.rl.until.Format(time.RFC3339)
	}
	return "not held"
}
