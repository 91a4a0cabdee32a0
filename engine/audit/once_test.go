package audit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
)

// TestWriteOnceAfterReset: WriteOnce remembers what a commit's note holds
// (so that a batch decodes each record once), but the note it checks is
// the ref's: after the notes ref is reset to a tip without a record (as
// the publisher resets to the remote's), that record is written again,
// and a record still in the note is still found.
func TestWriteOnceAfterReset(t *testing.T) {
	f := build(t)
	ctx := context.Background()
	m := hash(t, f.m2)
	wave := func(n int) Predicate {
		return &RolloutWave{RolloutID: "r2", Ring: "pilot", BaselineID: "b1", BaselineDigest: bdigest, Wave: n, HostsTotal: 1, HostsSucceeded: 1, FinishedAt: t0}
	}
	if _, dup, err := f.w.WriteOnce(ctx, m, wave(1)); err != nil || dup {
		t.Fatalf("first write: dup %t, %v", dup, err)
	}
	before, err := f.repo.NotesTip(gitrepo.NotesRef)
	if err != nil {
		t.Fatal(err)
	}
	if _, dup, err := f.w.WriteOnce(ctx, m, wave(2)); err != nil || dup {
		t.Fatalf("second write: dup %t, %v", dup, err)
	}
	if _, dup, err := f.w.WriteOnce(ctx, m, wave(2)); err != nil || !dup {
		t.Fatalf("the same record again: dup %t, %v; want dup", dup, err)
	}
	after, err := f.repo.NotesTip(gitrepo.NotesRef)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.repo.SetNotesRef(gitrepo.NotesRef, before.Hash, after.Hash); err != nil {
		t.Fatal(err)
	}
	if _, dup, err := f.w.WriteOnce(ctx, m, wave(2)); err != nil || dup {
		t.Errorf("after the reset the note lacks wave 2: dup %t, %v; want it written", dup, err)
	}
	if _, dup, err := f.w.WriteOnce(ctx, m, wave(1)); err != nil || !dup {
		t.Errorf("wave 1 is still in the note: dup %t, %v; want dup", dup, err)
	}
	if ok, err := Contains(f.repo, m, wave(2)); err != nil || !ok {
		t.Errorf("Contains(wave 2) = %t, %v", ok, err)
	}
}

// BenchmarkWriteOnceSameCommit writes b.N records on one commit with
// WriteOnce, as the publisher re-chains a batch: each check decodes only
// the lines appended since the last (before, the whole note per record,
// so a record's cost grew with the note).
func BenchmarkWriteOnceSameCommit(b *testing.B) {
	g := gitrepotest.New(b)
	c := g.Commit("initial", map[string]string{"patchbay.cue": "package patchbay\n"})
	repo, err := gitrepo.Open(g.Dir)
	if err != nil {
		b.Fatal(err)
	}
	defer repo.Close()
	signer, _ := newKey(b)
	w := &Writer{Repo: repo, Signer: signer, Committer: gitrepo.Signature{Name: "patchbay-test", Email: "t@example.com"}, Now: func() time.Time { return t0 }}
	m, err := gitrepo.ParseHash(c)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		p := &RingVerified{Ring: "canary", BaselineID: "b1", BaselineDigest: bdigest, Commit: c, SuccessRate: 1, HostsTotal: 1, HostsSucceeded: 1,
			VerifiedAt: t0.Add(time.Duration(i) * time.Second)}
		if _, dup, err := w.WriteOnce(ctx, m, p); err != nil || dup {
			b.Fatal(fmt.Sprint(dup, err))
		}
	}
}
