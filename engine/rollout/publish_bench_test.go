package rollout_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
	"github.com/patchbay/patchbay/engine/rollout"
)

func verifiedRecord(commit string, i int, at time.Time) *audit.RingVerified {
	return &audit.RingVerified{Ring: "canary", BaselineID: "2026-11", BaselineDigest: digest(fmt.Sprint(i)), Commit: commit,
		SuccessRate: 1, HostsTotal: 1, HostsSucceeded: 1, VerifiedAt: at.Add(time.Duration(i) * time.Millisecond).UTC()}
}

// BenchmarkPublishHTTP measures publishing to a smart-HTTP remote (git
// http-backend): each iteration puts batch records into the outbox and
// runs one controller tick, which fetches, re-chains, pushes and marks.
func BenchmarkPublishHTTP(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			r := newRemoteEnv(b, "sqlite://"+filepath.Join(b.TempDir(), "patchbay.db"))
			c := r.controllerOn(r.mirror, r.st, "a", func(o *rollout.Options) { o.Fetch = nil })
			r.step(ctx, c)
			head, _ := r.mirror.Head("main")
			b.ResetTimer()
			for i := range b.N {
				for j := range batch {
					if err := c.Enqueue(ctx, head, verifiedRecord(head.String(), i*batch+j, r.clk.Now()), "bench"); err != nil {
						b.Fatal(err)
					}
				}
				r.step(ctx, c)
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkRingVerifiedVisible measures the time from a ring.verified
// record entering the outbox (the controller's verification transaction)
// to the remote's notes ref naming it, with the controller running at its
// default tick (2 s): the goal is under one tick plus one push.
func BenchmarkRingVerifiedVisible(b *testing.B) {
	ctx := context.Background()
	r := newRemoteEnv(b, "sqlite://"+filepath.Join(b.TempDir(), "patchbay.db"))
	c := r.controllerOn(r.mirror, r.st, "a", func(o *rollout.Options) {
		o.Fetch, o.Tick, o.Now = nil, rollout.DefaultTick, time.Now
	})
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { c.Run(runCtx); close(ran) }()
	// Wait for the loop to end before the temporary directories go: a push
	// in flight still writes into the mirror.
	defer func() { stop(); <-ran }()
	head, _ := r.mirror.Head("main")
	remoteTip := func() string {
		out, _ := gitrepotest.RunGit(r.srv.Dir("patches"), 0, nil, "for-each-ref", "--format=%(objectname)", gitrepo.NotesRef)
		return out
	}
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		before := remoteTip()
		t0 := time.Now()
		if err := c.Enqueue(ctx, head, verifiedRecord(head.String(), i, time.Now()), "bench"); err != nil {
			b.Fatal(err)
		}
		for remoteTip() == before {
			if time.Since(t0) > time.Minute {
				b.Fatal("not published within a minute")
			}
			time.Sleep(5 * time.Millisecond)
		}
		total += time.Since(t0)
		// Wait for the next tick boundary to vary the phase.
		time.Sleep(time.Duration(i%4) * 500 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(total.Seconds()/float64(b.N), "s/visible")
	// A fresh clone shows the last one.
	dir := filepath.Join(b.TempDir(), "fresh")
	if _, err := gitrepotest.RunGit(b.TempDir(), 0, nil, "clone", "-q", r.srv.AuthURL(r.url), dir); err != nil {
		b.Fatal(err)
	}
	if _, err := gitrepotest.RunGit(dir, 0, nil, "fetch", "-q", "origin", gitrepo.NotesRef+":"+gitrepo.NotesRef); err != nil {
		b.Fatal(err)
	}
	out, _ := gitrepotest.RunGit(dir, 0, nil, "notes", "--ref=patchbay", "show", head.String())
	if n := strings.Count(out, "payloadType"); n < b.N {
		b.Fatalf("fresh clone shows %d records, want ≥ %d", n, b.N)
	}
}
