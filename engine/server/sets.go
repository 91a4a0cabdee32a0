package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/patchbay/patchbay/engine/history"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/store"
)

// setCache holds every package set the server has seen, by hash, interned
// through one inventory.SetCache so that 100,000 hosts with 1,000 distinct
// sets hold 1,000 package lists.
type setCache struct {
	cache *inventory.SetCache
	mu    sync.RWMutex
	m     map[string]*inventory.PackageSet
}

func newSetCache() *setCache {
	return &setCache{cache: inventory.NewSetCache(), m: map[string]*inventory.PackageSet{}}
}

func (c *setCache) get(hash string) *inventory.PackageSet {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[hash]
}

func (c *setCache) put(s *inventory.PackageSet) *inventory.PackageSet {
	s = c.cache.Intern(s)
	c.mu.Lock()
	c.m[s.Hash()] = s
	c.mu.Unlock()
	return s
}

func (c *setCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// packageSet returns the set with hash from memory, else from the store;
// store.ErrNotFound when the store does not hold it either.
func (s *Server) packageSet(ctx context.Context, hash string) (*inventory.PackageSet, error) {
	if ps := s.sets.get(hash); ps != nil {
		s.m.setCacheHits.Add(1)
		return ps, nil
	}
	s.m.setCacheMisses.Add(1)
	data, err := s.st.PackageSet(ctx, hash)
	if err != nil {
		return nil, err
	}
	ps, err := decodeSet(hash, data)
	if err != nil {
		return nil, fmt.Errorf("load package set: %w", err)
	}
	return s.sets.put(ps), nil
}

// planWriter coalesces plan snapshots per host and writes them in batches:
// snapshots are derived data (recomputable from the stored report), so they
// are written after the report is acknowledged, not before.
type planWriter struct {
	st    *store.Store
	log   *slog.Logger
	every time.Duration

	mu      sync.Mutex
	pending map[string]store.PlanSnapshot
	rings   map[string]string
	// states are hosts' rule states for the history (when hist is set).
	states  map[string]store.HostStates
	hist    *history.Recorder
	kick    chan struct{}
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

const planBatch = 512

func newPlanWriter(st *store.Store, log *slog.Logger, every time.Duration, hist *history.Recorder) *planWriter {
	w := &planWriter{st: st, log: log, every: every, pending: map[string]store.PlanSnapshot{}, rings: map[string]string{},
		states: map[string]store.HostStates{}, hist: hist,
		kick: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	go w.loop()
	return w
}

func (w *planWriter) put(p store.PlanSnapshot) {
	w.mu.Lock()
	w.pending[p.HostID] = p
	n := len(w.pending)
	w.mu.Unlock()
	if n >= planBatch {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// putStates queues a host's rule states for the history (written with the
// next batch; the history keeps only changes).
func (w *planWriter) putStates(hs store.HostStates) {
	w.mu.Lock()
	w.states[hs.HostID] = hs
	w.mu.Unlock()
}

// setRing queues a host's new ring (written with the next batch).
func (w *planWriter) setRing(host, ring string) {
	w.mu.Lock()
	w.rings[host] = ring
	w.mu.Unlock()
}

func (w *planWriter) loop() {
	defer close(w.stopped)
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			w.flush()
			return
		case <-t.C:
		case <-w.kick:
		}
		w.flush()
	}
}

func (w *planWriter) flush() {
	w.mu.Lock()
	if len(w.pending) == 0 && len(w.rings) == 0 && len(w.states) == 0 {
		w.mu.Unlock()
		return
	}
	states := make([]store.HostStates, 0, len(w.states))
	for _, hs := range w.states {
		states = append(states, hs)
	}
	w.states = map[string]store.HostStates{}
	batch := make([]store.PlanSnapshot, 0, len(w.pending))
	for _, p := range w.pending {
		batch = append(batch, p)
	}
	rings := w.rings
	w.pending, w.rings = map[string]store.PlanSnapshot{}, map[string]string{}
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if len(rings) > 0 {
		if err := w.st.SetHostRings(ctx, rings); err != nil && !errors.Is(err, store.ErrClosed) {
			w.log.Error("write host rings", "hosts", len(rings), "err", err)
		}
	}
	if len(states) > 0 && w.hist != nil {
		if _, err := w.hist.Record(ctx, states); err != nil && !errors.Is(err, store.ErrClosed) {
			w.log.Error("write history", "hosts", len(states), "err", err)
		}
	}
	if len(batch) == 0 {
		return
	}
	if _, err := w.st.PutPlans(ctx, batch); err != nil && !errors.Is(err, store.ErrClosed) {
		w.log.Error("write plan snapshots", "hosts", len(batch), "err", err)
	}
}

func (w *planWriter) close() error {
	w.once.Do(func() { close(w.done) })
	<-w.stopped
	return nil
}
