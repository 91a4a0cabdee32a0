package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPostgresGroupCommitDeadlock runs two replicas whose batches store the
// same two new sets in opposite orders. Without the batch's set locks,
// each would wait for the set the other inserted and has not committed,
// and PostgreSQL would fail one report to break the deadlock; with them,
// the second batch waits for the first at its start, and every report is
// stored and acknowledged.
func TestPostgresGroupCommitDeadlock(t *testing.T) {
	ctx := context.Background()
	u := postgresURL(t)
	a := mustOpen(t, u, Options{})
	b := mustOpen(t, u, Options{})
	enroll(t, a, "a0", "a1", "a2", "b0", "b1", "b2")
	known, knownData := setOf("known", 10)
	if err := a.PutPackageSet(ctx, known, knownData); err != nil {
		t.Fatal(err)
	}
	x, xData := setOf("x", 50)
	y, yData := setOf("y", 50)

	// Each replica's writer is held in a first report (r0) while r1 and r2
	// queue behind it, so they share the next batch; after r1 both
	// replicas wait for each other, then go on to r2.
	atR0 := map[*Store]chan struct{}{a: make(chan struct{}), b: make(chan struct{})}
	atR1 := map[*Store]chan struct{}{a: make(chan struct{}), b: make(chan struct{})}
	release := make(chan struct{})
	for s, other := range map[*Store]*Store{a: b, b: a} {
		var n atomic.Int32
		s.hook = func(stage string) {
			if stage != "pruned" {
				return
			}
			switch n.Add(1) {
			case 1:
				close(atR0[s])
				<-release
			case 2:
				close(atR1[s])
				waitOther(t, s, atR1[other], x, y)
			}
		}
	}
	var wg sync.WaitGroup
	errs := map[string]error{}
	var mu sync.Mutex
	save := func(s *Store, host, hash string, data []byte) {
		wg.Go(func() {
			_, err := s.SaveReport(ctx, report(host, hash, data, time.Now()))
			mu.Lock()
			errs[host] = err
			mu.Unlock()
		})
	}
	save(a, "a0", known, nil)
	save(b, "b0", known, nil)
	<-atR0[a]
	<-atR0[b]
	save(a, "a1", x, xData)
	save(b, "b1", y, yData)
	time.Sleep(100 * time.Millisecond) // r1 queues before r2
	save(a, "a2", y, yData)
	save(b, "b2", x, xData)
	time.Sleep(200 * time.Millisecond) // r2 queues
	close(release)
	wg.Wait()
	a.hook, b.hook = nil, nil

	for _, host := range []string{"a0", "a1", "a2", "b0", "b1", "b2"} {
		if err := errs[host]; err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	for host, want := range map[string]string{"a1": x, "a2": y, "b1": y, "b2": x} {
		h, err := a.Host(ctx, host)
		if err != nil || h.PackageSetHash != want {
			t.Errorf("%s: host %+v, %v; want set %s", host, h, err, want[:16])
		}
	}
	ca, ra := a.GroupCommitStats()
	cb, rb := b.GroupCommitStats()
	if ra+rb != 6 || ca+cb != 4 {
		t.Errorf("%d reports in %d commits, want 6 in 4 (r1 and r2 of each replica sharing one)", ra+rb, ca+cb)
	}
	t.Logf("replica a: %d reports in %d commits; b: %d in %d", ra, ca, rb, cb)
}

// waitOther returns when the other replica has written its first report of
// the batch (other is closed) or waits for the lock of set x or y.
func waitOther(t *testing.T, s *Store, other chan struct{}, x, y string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-other:
			return
		case <-time.After(10 * time.Millisecond):
		}
		var waiting bool
		err := s.r.QueryRowContext(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_locks l, unnest($1::text[]) h
			WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objsubid = 1
			AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(h, 1801))`, []string{x, y}).Scan(&waiting)
		if err != nil {
			t.Error(err)
			return
		}
		if waiting {
			return
		}
	}
	t.Errorf("the other replica neither wrote its first report nor waits for a set lock")
}
