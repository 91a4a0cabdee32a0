package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
)

// Rollout states (store.Rollout.State); see the package doc.
const (
	StateRunning    = "running"
	StatePaused     = "paused"
	StateHalted     = "halted"
	StateCompleted  = "completed"
	StateVerified   = "verified"
	StateFailed     = "failed"
	StateAborted    = "aborted"
	StateSuperseded = "superseded"
	// StateUnreviewed: the commit has no passing, signed gate decision and
	// no merged pull request with counted approvals; nothing starts until
	// an admin approves it (break-glass).
	StateUnreviewed = "unreviewed"
)

// Host states (store.RolloutHost.State).
const (
	HostPending   = "pending"
	HostRunning   = "running"
	HostSucceeded = "succeeded"
	HostFailed    = "failed"
	HostTimedOut  = "timedout"
	HostCancelled = "cancelled"
	// HostSkipped: the host's agent ran in dry-run mode until the rollout
	// ended; it never took a wave slot and changed nothing.
	HostSkipped = "skipped"
)

// stepFailed is the step status (api.OutcomeFailed) that fails a host.
const stepFailed = "failed"

// activeStates are the states in which a rollout holds its ring's hosts;
// openStates additionally include completed (soaking).
var (
	activeStates = []string{StateRunning, StatePaused, StateHalted}
	openStates   = []string{StateRunning, StatePaused, StateHalted, StateCompleted, StateUnreviewed}
)

func isOpen(state string) bool {
	for _, s := range openStates {
		if s == state {
			return true
		}
	}
	return false
}

// Defaults of Options.
const (
	DefaultBranch         = "main"
	DefaultTick           = 2 * time.Second
	DefaultLeaseName      = "rollout-controller"
	DefaultWaveTimeout    = 2 * time.Hour
	DefaultActionEstimate = 5 * time.Minute
	DefaultRebootEstimate = 15 * time.Minute
	DefaultStepTimeout    = 15 * time.Minute
	DefaultRebootGrace    = 15 * time.Minute
	DefaultPickupTimeout  = 30 * time.Minute
	DefaultMaxCommits     = 100
	DefaultJoinEvery      = time.Minute
	DefaultPushBatch      = 500
	DefaultPushAttempts   = 5
)

// Options tune a Controller. The zero value means the defaults.
type Options struct {
	// Branch is the main branch whose new commits start rollouts.
	Branch string
	// Tick is how often the controller runs; LeaseTTL how long its lease
	// lasts without renewal (default 3 ticks, at least 3 s): a dead
	// leader's successor takes over within LeaseTTL + Tick.
	Tick     time.Duration
	LeaseTTL time.Duration
	// LeaseName names the store lease; Holder names this replica (default
	// a random id).
	LeaseName string
	Holder    string
	// Now is the clock; nil means time.Now. Use the same clock for the
	// store (store.Options.Now) so lease expiry agrees.
	Now func() time.Time
	// WaveTimeout is how long a wave's hosts may run before the ones that
	// have not finished count as timed out (failures), however alive they
	// are: the upper bound of one host step.
	WaveTimeout time.Duration
	// PickupTimeout is how long a host of a new wave has to fetch its
	// actions (its agent polls every --interval, 15m by default) before
	// it counts as timed out and its slot is given to the next host.
	PickupTimeout time.Duration
	// RebootGrace is added to the ring's strategy.stepTimeout while the
	// host's last heartbeat said it is rebooting (the host is down and
	// cannot heartbeat; the agent's own --reboot-grace defaults to 15m).
	RebootGrace time.Duration
	// ActionEstimate and RebootEstimate are how long a package action and a
	// reboot are expected to take: a host whose actions would not finish
	// before its window closes gets none.
	ActionEstimate time.Duration
	RebootEstimate time.Duration
	// JoinEvery is how often a running rollout looks for ring hosts that
	// reported after it started (or fell out of compliance) and adds the
	// non-compliant ones as pending hosts. Zero means DefaultJoinEvery; a
	// negative value disables joining.
	JoinEvery time.Duration
	// MaxCommits bounds how many new first-parent commits one tick
	// processes (oldest first); the rest wait for the next tick.
	MaxCommits int
	// Fetch, when set, runs before every poll of the branch (e.g. a git
	// fetch of the remote).
	Fetch func(ctx context.Context) error
	// Remote, when set, is the Git remote (e.g. "origin") the leader
	// publishes audit records to (refs/notes/patchbay): the chain head is
	// the remote's, and an outbox entry stays pending until a push with it
	// is acknowledged. Empty: records are written to the local notes only.
	Remote string
	// RepoLeaseTTL is how long the repository lease (see holdRepo) lasts
	// without renewal; zero means DefaultRepoLeaseTTL, negative disables
	// the repository lease. Only with Remote.
	RepoLeaseTTL time.Duration
	// PushBatch bounds how many outbox entries one push carries (default
	// DefaultPushBatch).
	PushBatch int
	// PushAttempts bounds the fetch–re-chain–push cycles of one tick that
	// lose against another writer (default DefaultPushAttempts); the rest
	// waits for the next tick.
	PushAttempts int
	// Committer signs the audit notes commits.
	Committer gitrepo.Signature
	Logger    *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Branch == "" {
		o.Branch = DefaultBranch
	}
	if o.Tick <= 0 {
		o.Tick = DefaultTick
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = max(3*o.Tick, 3*time.Second)
	}
	if o.LeaseName == "" {
		o.LeaseName = DefaultLeaseName
	}
	if o.Holder == "" {
		o.Holder = randomID()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.WaveTimeout <= 0 {
		o.WaveTimeout = DefaultWaveTimeout
	}
	if o.PickupTimeout <= 0 {
		o.PickupTimeout = DefaultPickupTimeout
	}
	if o.RebootGrace <= 0 {
		o.RebootGrace = DefaultRebootGrace
	}
	if o.ActionEstimate <= 0 {
		o.ActionEstimate = DefaultActionEstimate
	}
	if o.RebootEstimate <= 0 {
		o.RebootEstimate = DefaultRebootEstimate
	}
	if o.JoinEvery == 0 {
		o.JoinEvery = DefaultJoinEvery
	}
	if o.MaxCommits <= 0 {
		o.MaxCommits = DefaultMaxCommits
	}
	if o.RepoLeaseTTL == 0 {
		o.RepoLeaseTTL = DefaultRepoLeaseTTL
	}
	if o.PushBatch <= 0 {
		o.PushBatch = DefaultPushBatch
	}
	if o.PushAttempts <= 0 {
		o.PushAttempts = DefaultPushAttempts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Inventory gives the controller the hosts' latest reports; it plans the
// ring of a new rollout from them.
type Inventory interface {
	Reports(ctx context.Context) ([]*inventory.Report, error)
}

// HostPlanner computes one host's current plan (nil when the host has not
// reported); the server is one.
type HostPlanner interface {
	HostPlan(ctx context.Context, host store.Host) (*plan.Host, error)
}

// Config wires a Controller. Store and Repo are required; without Signer
// transitions are kept in the outbox and no audit record is written;
// without Planner, Assignment holds every host.
type Config struct {
	Store     *store.Store
	Repo      *gitrepo.Repo
	Signer    *audit.Signer
	Inventory Inventory
	Planner   HostPlanner
	// TrustedKeys are public keys (PEM) whose gate.decision records count
	// as a review of a commit, besides the base config's trustedKeys and
	// Signer's own key.
	TrustedKeys [][]byte
	Options     Options
}

// Controller runs rollouts. Run it on every replica: one at a time is the
// leader. Its Assignment, List, Show, Pause, Resume, Abort and Hint methods
// work on any replica. It is safe for concurrent use.
type Controller struct {
	st      *store.Store
	repo    *gitrepo.Repo
	aw      *audit.Writer
	inv     Inventory
	planner HostPlanner
	trusted []audit.TrustedKey
	o       Options
	log     *slog.Logger

	mu     sync.Mutex
	fence  store.Fence // zero when not leader
	models map[string]*baseline.Repository
	errs   map[string]error // commit → load error
	// bound caches each rollout's tested-set binding (nil: none).
	bound map[string]*binding

	writes atomic.Int64
	// joined is when each running rollout last looked for new hosts
	// (leader-local; under stepMu).
	joined map[string]time.Time
	// pub is the publishing state /readyz shows.
	pub publishState
	// rl is the repository lease (with Options.Remote).
	rl repoLease

	wake chan struct{}
	// stepMu serializes Step (Run's ticks and direct calls).
	stepMu sync.Mutex
}

// New returns a Controller.
func New(cfg Config) (*Controller, error) {
	if cfg.Store == nil || cfg.Repo == nil {
		return nil, errors.New("rollout: Store and Repo are required")
	}
	o := cfg.Options.withDefaults()
	c := &Controller{st: cfg.Store, repo: cfg.Repo, inv: cfg.Inventory, planner: cfg.Planner, o: o, log: o.Logger,
		models: map[string]*baseline.Repository{}, errs: map[string]error{}, wake: make(chan struct{}, 1),
		joined: map[string]time.Time{}, bound: map[string]*binding{}}
	if cfg.Signer != nil {
		c.aw = &audit.Writer{Repo: cfg.Repo, Signer: cfg.Signer, Committer: o.Committer, Now: o.Now}
		k, err := audit.TrustedKeyOf(cfg.Signer.PublicKey())
		if err != nil {
			return nil, fmt.Errorf("rollout: signer key: %w", err)
		}
		c.trusted = append(c.trusted, k)
	}
	if len(cfg.TrustedKeys) > 0 {
		keys, err := audit.ParseTrustedKeys(cfg.TrustedKeys...)
		if err != nil {
			return nil, fmt.Errorf("rollout: trusted keys: %w", err)
		}
		c.trusted = append(c.trusted, keys...)
	}
	return c, nil
}

// Holder returns the replica id this controller competes for the lease
// with.
func (c *Controller) Holder() string { return c.o.Holder }

// Leader reports whether this controller held the lease at its last tick.
func (c *Controller) Leader() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fence.Fencing != 0
}

// Run ticks every Options.Tick until ctx ends, and releases the lease
// then. Errors of a tick are logged, not returned.
func (c *Controller) Run(ctx context.Context) error {
	t := time.NewTicker(c.o.Tick)
	defer t.Stop()
	defer func() {
		if c.Leader() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			c.releaseRepo(rctx)
			cancel()
			_ = c.st.ReleaseLease(context.WithoutCancel(ctx), c.o.LeaseName, c.o.Holder)
		}
	}()
	for {
		if err := c.Step(ctx); err != nil && !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrRepoLeased) && ctx.Err() == nil {
			c.log.Error("rollout controller tick", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-c.wake:
		}
	}
}

// Step runs one controller tick: it takes or renews the lease (returning
// ErrNotLeader when another replica holds it; with Options.Remote it also
// takes the repository lease, returning ErrRepoLeased when another
// deployment holds that), processes new commits,
// advances every open rollout and writes pending audit records.
func (c *Controller) Step(ctx context.Context) error {
	c.stepMu.Lock()
	defer c.stepMu.Unlock()
	token, ok, err := c.st.AcquireLease(ctx, c.o.LeaseName, c.o.Holder, c.o.LeaseTTL)
	if err != nil {
		return fmt.Errorf("acquire lease: %w", err)
	}
	c.mu.Lock()
	if !ok {
		c.fence = store.Fence{}
	} else {
		if c.fence.Fencing != token {
			c.log.Info("rollout controller: leader", "holder", c.o.Holder, "fencing", token)
		}
		c.fence = store.Fence{Lease: c.o.LeaseName, Holder: c.o.Holder, Fencing: token}
	}
	f := c.fence
	c.mu.Unlock()
	if !ok {
		return ErrNotLeader
	}
	if err := c.holdRepo(ctx, f); err != nil {
		if ctx.Err() == nil {
			c.pub.failed(err, c.o.Now().UTC())
		}
		if errors.Is(err, store.ErrLeaseLost) {
			c.mu.Lock()
			c.fence = store.Fence{}
			c.mu.Unlock()
		}
		return err
	}
	err = errors.Join(c.poll(ctx, f), c.advanceAll(ctx, f), c.drain(ctx, f))
	if errors.Is(err, store.ErrLeaseLost) {
		c.mu.Lock()
		c.fence = store.Fence{}
		c.mu.Unlock()
	}
	return err
}

func (c *Controller) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// modelAt loads (and caches) the validated model at commit.
func (c *Controller) modelAt(ctx context.Context, commit string) (*baseline.Repository, error) {
	c.mu.Lock()
	m, ok := c.models[commit]
	err := c.errs[commit]
	c.mu.Unlock()
	if ok {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	h, err := gitrepo.ParseHash(commit)
	if err != nil {
		return nil, err
	}
	tree, err := c.repo.TreeFS(h)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", short(commit), err)
	}
	m, err = baseline.Load(ctx, fs.FS(tree), baseline.Options{Now: c.o.Now()})
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			c.errs[commit] = err
		}
		return nil, err
	}
	if len(c.models) > 64 {
		clear(c.models)
	}
	c.models[commit] = m
	return m, nil
}

// detail is the JSON of store.RolloutProgress.Detail.
type detail struct {
	RingHosts      int       `json:"ringHosts"`
	MaxConcurrency int       `json:"maxConcurrency"`
	MaxErrors      int       `json:"maxErrors"`
	PR             int       `json:"pr,omitempty"`
	EffectDigest   string    `json:"effectDigest,omitempty"`
	WaveEnded      bool      `json:"waveEnded,omitempty"`
	Hold           string    `json:"hold,omitempty"`
	CompletedAt    time.Time `json:"completedAt,omitzero"`
	SuccessRate    float64   `json:"successRate,omitempty"`
	// Tested is the previous ring's tested set this rollout is bound to
	// (nil: not bound, e.g. the first ring or an emergency promotion).
	Tested *binding `json:"tested,omitempty"`
}

func decodeDetail(b []byte) detail {
	var d detail
	_ = json.Unmarshal(b, &d)
	return d
}

func (d detail) encode() []byte {
	b, _ := json.Marshal(d)
	return b
}

// eventPayload is the outbox payload: the commit the record is about and
// the predicate.
type eventPayload struct {
	Commit    string          `json:"commit"`
	Predicate json.RawMessage `json:"predicate"`
}

func event(rolloutID, actor, commit string, p audit.Predicate, at time.Time) store.RolloutEvent {
	body, _ := json.Marshal(p)
	payload, _ := json.Marshal(eventPayload{Commit: commit, Predicate: body})
	return store.RolloutEvent{RolloutID: rolloutID, Kind: string(p.Kind()), Payload: payload, Actor: actor, At: at}
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// PlannerFunc adapts a function to HostPlanner (e.g. a server created after
// the controller, since the server takes the controller as its Assigner).
type PlannerFunc func(ctx context.Context, host store.Host) (*plan.Host, error)

// HostPlan calls f.
func (f PlannerFunc) HostPlan(ctx context.Context, host store.Host) (*plan.Host, error) {
	return f(ctx, host)
}

// InventoryFunc adapts a function to Inventory.
type InventoryFunc func(ctx context.Context) ([]*inventory.Report, error)

// Reports calls f.
func (f InventoryFunc) Reports(ctx context.Context) ([]*inventory.Report, error) { return f(ctx) }

// apply is every controller write: one store transaction, counted.
func (c *Controller) apply(ctx context.Context, f store.Fence, ch store.RolloutChange) ([]int, error) {
	c.writes.Add(1)
	return c.st.Apply(ctx, f, ch)
}

// Writes returns how many store transactions this controller has made.
func (c *Controller) Writes() int64 { return c.writes.Load() }
