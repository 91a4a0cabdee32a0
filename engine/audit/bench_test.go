package audit

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
//     ECDSA signatures and the chain;
//   - read-on-one-merge: what a dashboard rollout page reads (uncached):
//     the note of one merge, looked up directly, and its signature
//     checked; read-all: every record (audit.Read).
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
	merges := gitrepotest.GenerateWith(b, dir, GenerateOptions(signer, w, &prev, &seq))
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
			b.Cleanup(func() { repo.Close() })
			changes, err := Trail(ctx, repo, nil, TrailOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if err := writeTable(io.Discard, changes); err != nil {
				b.Fatal(err)
			}
			if len(changes) != 5000 || changes[0].PR != 5000 || changes[0].Author != "user2" {
				b.Fatalf("%d changes, newest %+v", len(changes), changes[0])
			}
		}
	})
	// The log cache: cold reads every note concurrently, decodes it and
	// writes the cache; warm reads the cache written for the same tip.
	cacheDir := b.TempDir()
	for _, warm := range []bool{false, true} {
		name := "audit-log-cache-cold"
		if warm {
			name = "audit-log-cache-warm"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if !warm {
					os.Remove(filepath.Join(cacheDir, LogCacheFile))
				}
				repo, err := gitrepo.Open(dir)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { repo.Close() })
				changes, err := Trail(ctx, repo, nil, TrailOptions{CacheDir: cacheDir})
				if err != nil {
					b.Fatal(err)
				}
				if err := writeTable(io.Discard, changes); err != nil {
					b.Fatal(err)
				}
				if len(changes) != 5000 || changes[0].PR != 5000 || changes[0].Author != "user2" {
					b.Fatalf("%d changes, newest %+v", len(changes), changes[0])
				}
			}
		})
	}
	b.Run("audit-log-since-1d", func(b *testing.B) {
		for b.Loop() {
			repo, err := gitrepo.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { repo.Close() })
			// The generated history spans 10,000 minutes; the last day is 1,440 commits.
			changes, err := Trail(ctx, repo, nil, TrailOptions{Since: time.Unix(1767225600+600000-86400, 0)})
			if err != nil || len(changes) == 0 || len(changes) > 800 {
				b.Fatalf("%d changes, %v", len(changes), err)
			}
		}
	})
	// What a dashboard rollout page reads: the records on one merge and
	// its head (ReadOn), against reading every record (Read).
	b.Run("read-on-one-merge", func(b *testing.B) {
		repo, err := gitrepo.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		defer repo.Close()
		m, _ := gitrepo.ParseHash(merges[len(merges)/2])
		for b.Loop() {
			got, err := ReadOn(repo, m)
			if err != nil || len(got[m.String()]) != 1 || CheckSignature(got[m.String()][0], keys) != nil {
				b.Fatalf("%v, %v", got, err)
			}
		}
	})
	b.Run("read-all", func(b *testing.B) {
		repo, err := gitrepo.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		defer repo.Close()
		for b.Loop() {
			if log, err := Read(ctx, repo); err != nil || len(log.Records) != 5000 {
				b.Fatalf("%v", err)
			}
		}
	})
	b.Run("audit-verify", func(b *testing.B) {
		for b.Loop() {
			repo, err := gitrepo.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { repo.Close() })
			if _, err := Verify(ctx, repo, keys); err != nil {
				b.Fatal(err)
			}
		}
	})
}

var benchRepo = flag.String("bench-repo", "", "TestWriteBenchRepo: write the 10,000-commit benchmark repository into this (new) directory")

// TestWriteBenchRepo writes BenchmarkTrail10k's repository (10,000 commits,
// 5,000 signed records) into -bench-repo, for whole-process timings of the
// CLIs (.ci/bench-audit-log). Without the flag it is skipped.
func TestWriteBenchRepo(t *testing.T) {
	if *benchRepo == "" {
		t.Skip("no -bench-repo")
	}
	if err := os.MkdirAll(*benchRepo, 0o755); err != nil {
		t.Fatal(err)
	}
	signer, _ := newKey(t)
	w := &Writer{Signer: signer}
	var prev string
	var seq int64
	gitrepotest.GenerateWith(t, *benchRepo, GenerateOptions(signer, w, &prev, &seq))
	t.Logf("wrote 10,000 commits and %d signed records to %s", seq, *benchRepo)
}

// GenerateOptions returns generator options that put one signed, chained
// change.merged record on every merge.
func GenerateOptions(s *Signer, w *Writer, prev *string, seq *int64) gitrepotest.GenerateOptions {
	return gitrepotest.GenerateOptions{
		Commits: 10000,
		Note: func(k int, merge string) string {
			h, _ := gitrepo.ParseHash(merge)
			*seq++
			p := &ChangeMerged{PR: k + 1, Author: fmt.Sprintf("user%d", (k+1)%7), Approvers: []string{"carol"},
				BaseCommit: merge, HeadCommit: merge, MergeCommit: merge, EffectDigest: idigest, MergedAt: t0}
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

// writeTable renders changes roughly as 'audit log' does (the CLI's
// renderer lives in cmd/), so the benchmark includes formatting.
func writeTable(w io.Writer, changes []Change) error {
	bw := bufio.NewWriter(w)
	for _, c := range changes {
		fmt.Fprintf(bw, "%s\t%s\t#%d\t%s\t%s\n", c.Commit[:12], c.Time.Format("2006-01-02 15:04"), c.PR, c.Author, strings.Join(c.Approvers, ","))
	}
	return bw.Flush()
}

// BenchmarkDecodeLine measures decoding one stored change.merged record.
func BenchmarkDecodeLine(b *testing.B) {
	signer, _ := newKey(b)
	w := &Writer{Signer: signer}
	h, _ := gitrepo.ParseHash("0123456789abcdef0123456789abcdef01234567")
	p := &ChangeMerged{PR: 1, Author: "alice", Approvers: []string{"carol"}, BaseCommit: h.String(), HeadCommit: h.String(),
		MergeCommit: h.String(), EffectDigest: idigest, MergedAt: t0}
	body, _ := jsonMarshal(p)
	line, err := w.encode(h, p, body, Link{Seq: 2, Prev: bdigest})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := decodeLine(h.String(), 1, line); r.pred == nil {
			b.Fatal(r.Problem)
		}
	}
}
