package store

import (
	"context"
	"errors"
	"fmt"
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
	// Each replica's three hosts share a writer.
	hosts := sameWriterHosts(a, 6)
	enroll(t, a, hosts...)
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
	a0, a1, a2, b0, b1, b2 := hosts[0], hosts[1], hosts[2], hosts[3], hosts[4], hosts[5]
	save(a, a0, known, nil)
	save(b, b0, known, nil)
	<-atR0[a]
	<-atR0[b]
	save(a, a1, x, xData)
	save(b, b1, y, yData)
	time.Sleep(100 * time.Millisecond) // r1 queues before r2
	save(a, a2, y, yData)
	save(b, b2, x, xData)
	time.Sleep(200 * time.Millisecond) // r2 queues
	close(release)
	wg.Wait()
	a.hook, b.hook = nil, nil

	for _, host := range hosts {
		if err := errs[host]; err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	for host, want := range map[string]string{a1: x, a2: y, b1: y, b2: x} {
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

// TestPostgresGroupCommitHostOrder writes a batch whose reports arrive for
// h2 then h1 while SetHostRings updates both hosts in one transaction.
// The batch locks its hosts in the order of their ids, as SetHostRings
// does, so SetHostRings waits for the batch instead of holding h1 while the
// batch waits for it (a deadlock PostgreSQL would break by failing one).
func TestPostgresGroupCommitHostOrder(t *testing.T) {
	ctx := context.Background()
	app := fmt.Sprintf("patchbay-test-%d", time.Now().UnixNano())
	s := mustOpen(t, postgresURL(t)+"&application_name="+app, Options{})
	// Three hosts of one writer, h1 < h2.
	hosts := sameWriterHosts(s, 3)
	h0, h1, h2 := hosts[0], hosts[1], hosts[2]
	enroll(t, s, hosts...)
	known, knownData := setOf("known", 10)
	if err := s.PutPackageSet(ctx, known, knownData); err != nil {
		t.Fatal(err)
	}
	atR0, atFirst, release, ringsDone := make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{})
	var n atomic.Int32
	s.hook = func(stage string) {
		if stage != "pruned" {
			return
		}
		switch n.Add(1) {
		case 1:
			close(atR0)
			<-release
		case 2:
			// The batch holds its first host; let SetHostRings start and
			// wait for a host lock (or finish) before going on.
			close(atFirst)
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				select {
				case <-ringsDone:
					return
				case <-time.After(10 * time.Millisecond):
				}
				var waiting bool
				if err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
					WHERE application_name = $1 AND wait_event_type = 'Lock' AND query LIKE 'UPDATE hosts SET ring%')`, app).Scan(&waiting); err != nil {
					t.Error(err)
					return
				}
				if waiting {
					return
				}
			}
			t.Error("SetHostRings neither finished nor waits for a host")
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := map[string]error{}
	save := func(host string) {
		wg.Go(func() {
			_, err := s.SaveReport(ctx, report(host, known, nil, time.Now()))
			mu.Lock()
			errs[host] = err
			mu.Unlock()
		})
	}
	save(h0)
	<-atR0
	save(h2)
	time.Sleep(100 * time.Millisecond) // h2 queues before h1
	save(h1)
	time.Sleep(200 * time.Millisecond)
	close(release)
	<-atFirst
	var ringsErr error
	wg.Go(func() {
		defer close(ringsDone)
		ringsErr = s.SetHostRings(ctx, map[string]string{h1: "canary", h2: "canary"})
	})
	wg.Wait()
	s.hook = nil

	if ringsErr != nil {
		t.Errorf("SetHostRings: %v", ringsErr)
	}
	for _, host := range hosts {
		if errs[host] != nil {
			t.Errorf("%s: %v", host, errs[host])
		}
	}
	for _, host := range []string{h1, h2} {
		if h, err := s.Host(ctx, host); err != nil || h.Ring != "canary" || h.PackageSetHash != known {
			t.Errorf("%s: host %+v, %v; want ring canary and the known set", host, h, err)
		}
	}
	if c, r := s.GroupCommitStats(); c != 2 || r != 3 {
		t.Errorf("%d reports in %d commits, want 3 in 2 (h2 and h1 sharing one)", r, c)
	}
}

// TestPostgresWithoutGroupCommit checks the path Options.MaxBatch 1 keeps
// on PostgreSQL: one transaction per report, nothing counted as group
// commits, bad reports refused alone.
func TestPostgresWithoutGroupCommit(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, postgresURL(t), Options{MaxBatch: 1, ReportRetention: 2})
	ids := []string{"h0", "h1", "h2", "h3"}
	enroll(t, s, ids...)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			for i := range 3 {
				hash, data := setOf(fmt.Sprint(id, i), 20)
				if _, err := s.SaveReport(ctx, report(id, hash, data, time.Now())); err != nil {
					t.Errorf("%s: %v", id, err)
				}
				if _, err := s.SaveReport(ctx, report(id, "sha256:missing", nil, time.Now())); !errors.Is(err, ErrPackageSetMissing) {
					t.Errorf("%s: unknown set: err = %v, want ErrPackageSetMissing", id, err)
				}
			}
		})
	}
	wg.Wait()
	if c, r := s.GroupCommitStats(); c != 0 || r != 0 {
		t.Errorf("GroupCommitStats = %d, %d; want 0, 0 with MaxBatch 1", c, r)
	}
	for _, id := range ids {
		rs, err := s.Reports(ctx, id, 0)
		if err != nil || len(rs) != 3 { // every report changed the set: all kept
			t.Errorf("%s: %d reports, %v; want 3", id, len(rs), err)
		}
	}
}

// sameWriterHosts returns n host ids, in increasing order, whose reports
// go to the same group-commit writer of s.
func sameWriterHosts(s *Store, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		id := fmt.Sprintf("h%03d", i)
		if s.writerOf(id) == s.writerOf("h000") {
			out = append(out, id)
		}
	}
	return out
}

func TestWriterOf(t *testing.T) {
	s := &Store{batches: make([]chan *saveReq, pgWriters)}
	seen := map[int]int{}
	for i := range 1000 {
		id := fmt.Sprintf("host-%d", i)
		w := s.writerOf(id)
		if w != s.writerOf(id) || w < 0 || w >= pgWriters {
			t.Fatalf("writerOf(%s) = %d, then %d", id, w, s.writerOf(id))
		}
		seen[w]++
	}
	for w := range pgWriters {
		if seen[w] < 1000/pgWriters/2 {
			t.Errorf("writer %d got %d of 1000 hosts", w, seen[w])
		}
	}
}
