package audit

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
)

// BenchmarkTrail10k generates, once, a repository of 10,000 commits on
// main's first-parent line (every second one a pull-request merge, 5,000
// merges) with a signed record on every merge, then compares:
//
//   - git-log: git log --first-parent --notes=patchbay over main (one
//     process per iteration, output discarded);
//   - audit-log: what 'patchbay audit log' does in-process: read every
//     record, walk the first-parent history, join;
//   - audit-verify: what 'patchbay audit verify' does: read, check 5,000
//     ECDSA signatures and the chain.
func BenchmarkTrail10k(b *testing.B) {
	if _, err := exec.LookPath("git"); err != nil {
		b.Skip("git not installed")
	}
	dir := b.TempDir()
	signer, keys := newKey(b)
	w := &Writer{Signer: signer}
	var prev string
	var seq int64
	start := time.Now()
	gitrepotest.GenerateWith(b, dir, GenerateOptions(signer, w, &prev, &seq))
	b.Logf("generated 10,000 commits and %d signed records in %v", seq, time.Since(start))
	ctx := context.Background()

	b.Run("git-log", func(b *testing.B) {
		for b.Loop() {
			cmd := exec.Command("git", "log", "--first-parent", "--notes=patchbay", "--format=%H%x09%an%x09%s%x09%N", "main")
			cmd.Dir = dir
			cmd.Stdout = io.Discard
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("audit-log", func(b *testing.B) {
		for b.Loop() {
			repo, err := gitrepo.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer repo.Close()
			log, err := Read(ctx, repo)
			if err != nil {
				b.Fatal(err)
			}
			changes, err := Trail(ctx, repo, log, TrailOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if len(changes) != 5000 || len(log.Records) != int(seq) {
				b.Fatalf("%d changes, %d records", len(changes), len(log.Records))
			}
		}
	})
	b.Run("audit-log-since-1d", func(b *testing.B) {
		for b.Loop() {
			repo, err := gitrepo.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer repo.Close()
			log, err := Read(ctx, repo)
			if err != nil {
				b.Fatal(err)
			}
			// The generated history spans 10,000 minutes; the last day is 1,440 commits.
			if _, err := Trail(ctx, repo, log, TrailOptions{Since: time.Unix(1767225600+600000-86400, 0)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("audit-verify", func(b *testing.B) {
		for b.Loop() {
			repo, err := gitrepo.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer repo.Close()
			if _, err := Verify(ctx, repo, keys); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// GenerateOptions returns generator options that put one signed, chained
// ring.verified record on every merge.
func GenerateOptions(s *Signer, w *Writer, prev *string, seq *int64) gitrepotest.GenerateOptions {
	return gitrepotest.GenerateOptions{
		Commits: 10000,
		Note: func(k int, merge string) string {
			h, _ := gitrepo.ParseHash(merge)
			*seq++
			p := &RingVerified{Ring: "canary", BaselineID: fmt.Sprintf("b%d", k), BaselineDigest: bdigest, Commit: merge,
				SuccessRate: 1, HostsTotal: 10, HostsSucceeded: 10, SoakHours: 24, VerifiedAt: t0}
			body, _ := jsonMarshal(p)
			line, err := w.encode(h, p, body, Link{Seq: *seq, Prev: *prev})
			if err != nil {
				panic(err)
			}
			*prev = Digest(line)
			return string(line)
		},
		NotesMessage: func() string {
			return fmt.Sprintf("patchbay audit: generated\n\n%s: %d\n%s: %s\n", trailerSeq, *seq, trailerHead, *prev)
		},
	}
}
