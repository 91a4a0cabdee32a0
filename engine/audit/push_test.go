package audit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
)

// TestWriteAndPushConcurrentClones has two clones of one bare remote write
// records concurrently: fetch-merge-retry must keep a single linear chain
// on the remote with every record in it.
func TestWriteAndPushConcurrentClones(t *testing.T) {
	g := gitrepotest.New(t)
	g.Commit("init", map[string]string{"patchbay.cue": "package patchbay\n"})
	m1, _ := g.MergePR(1, "alice", "b1", map[string]string{"baselines/b1.cue": "b1\n"})
	bare := t.TempDir()
	if _, err := gitrepotest.RunGit(bare, 0, nil, "init", "-q", "--bare"); err != nil {
		t.Fatal(err)
	}
	g.Git("push", "-q", bare, "main")
	signer, keys := newKey(t)
	clone := func() *Writer {
		d := t.TempDir()
		if _, err := gitrepotest.RunGit(d, 0, nil, "clone", "-q", bare, "."); err != nil {
			t.Fatal(err)
		}
		r, err := gitrepo.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		return &Writer{Repo: r, Signer: signer, Now: func() time.Time { return t0 }}
	}
	writers := []*Writer{clone(), clone()}
	h, _ := gitrepo.ParseHash(m1)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &RolloutWave{RolloutID: "r1", Ring: "canary", BaselineID: "b1", BaselineDigest: bdigest,
				Wave: i + 1, HostsTotal: 1, HostsSucceeded: 1, FinishedAt: t0}
			_, errs[i] = writers[i%2].WriteAndPush(context.Background(), "origin", h, p)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	// A fresh clone of the remote holds one verified chain of n records.
	d := t.TempDir()
	if _, err := gitrepotest.RunGit(d, 0, nil, "clone", "-q", bare, "."); err != nil {
		t.Fatal(err)
	}
	if _, err := gitrepotest.RunGit(d, 0, nil, "fetch", "-q", "origin", "+refs/notes/patchbay:refs/notes/patchbay"); err != nil {
		t.Fatal(err)
	}
	r, err := gitrepo.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	log, err := Verify(context.Background(), r, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(log.Records) != n {
		t.Fatalf("%d records on the remote, want %d", len(log.Records), n)
	}
	waves := map[int]bool{}
	for _, rec := range log.Records {
		p, err := rec.Decode()
		if err != nil {
			t.Fatal(err)
		}
		waves[p.(*RolloutWave).Wave] = true
	}
	for i := 1; i <= n; i++ {
		if !waves[i] {
			t.Errorf("wave %d's record is missing", i)
		}
	}
	if t.Failed() {
		t.Log(fmt.Sprint(waves))
	}
}
