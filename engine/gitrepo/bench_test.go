package gitrepo_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
)

// BenchmarkFirstParent10k walks main's first-parent line of a generated
// 10,000-commit history (5,001 commits on the line) with and without the
// commit-graph file, decoding every commit or none, against git rev-list.
func BenchmarkFirstParent10k(b *testing.B) {
	dir := b.TempDir()
	gitrepotest.Generate(b, dir, 10000, nil)
	ctx := context.Background()
	walk := func(b *testing.B, decode bool) {
		r, err := gitrepo.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		head, err := r.Head("main")
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			n := 0
			err := r.FirstParent(ctx, head, func(nd *gitrepo.Node) error {
				n++
				if decode {
					_, err := nd.Commit()
					return err
				}
				return nil
			})
			if err != nil || n != 5001 {
				b.Fatalf("%d commits, %v", n, err)
			}
		}
	}
	b.Run("git-rev-list", func(b *testing.B) {
		for b.Loop() {
			cmd := exec.Command("git", "rev-list", "--first-parent", "main")
			cmd.Dir, cmd.Stdout = dir, io.Discard
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("graph", func(b *testing.B) { walk(b, false) })
	b.Run("graph+decode", func(b *testing.B) { walk(b, true) })
	graph := filepath.Join(dir, ".git", "objects", "info", "commit-graph")
	if err := os.Rename(graph, graph+".off"); err != nil {
		b.Fatal(err)
	}
	b.Run("no-graph", func(b *testing.B) { walk(b, false) })
}
