package plan

import (
	"sync"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
)

// Memo keeps set computations across Compute calls, so that a server
// planning one host per report recomputes a host's rules only when its
// package set, stream, ring or the model changed. A computation depends on
// the clock only through Overdue (and the risk it adds); a kept one is used
// while the clock has not passed the next deadline of its results and has
// not gone back before the time it was computed. It is safe for concurrent
// use and holds at most its limit of computations (it is cleared when
// full, and when the model changes).
type Memo struct {
	mu    sync.Mutex
	repo  *baseline.Repository
	limit int
	m     map[setKey]memoEval
}

type memoEval struct {
	ev         *setEval
	from, till time.Time // valid for from ≤ now < till; till zero: forever
}

// NewMemo returns a memo of at most limit computations (0: 10,000).
func NewMemo(limit int) *Memo {
	if limit <= 0 {
		limit = 10_000
	}
	return &Memo{limit: limit, m: map[setKey]memoEval{}}
}

func (m *Memo) get(repo *baseline.Repository, k setKey, now time.Time) *setEval {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.repo != repo {
		return nil
	}
	e, ok := m.m[k]
	if !ok || now.Before(e.from) || !e.till.IsZero() && !now.Before(e.till) {
		return nil
	}
	return e.ev
}

func (m *Memo) put(repo *baseline.Repository, k setKey, now time.Time, ev *setEval) {
	// A result turns overdue when the clock passes its deadline d
	// (now.After(d)), so the computation is valid up to and including the
	// earliest deadline not yet passed.
	var till time.Time
	for _, r := range ev.results {
		if !now.After(r.Deadline) && (till.IsZero() || r.Deadline.Before(till)) {
			till = r.Deadline
		}
	}
	if !till.IsZero() {
		till = till.Add(time.Nanosecond)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.repo != repo || len(m.m) >= m.limit {
		m.repo = repo
		clear(m.m)
	}
	m.m[k] = memoEval{ev: ev, from: now, till: till}
}

// Len returns the number of computations kept.
func (m *Memo) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m)
}
