package gitrepo_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/engine/gitrepo"
)

// TestCloneOrFetchTwice: the second call opens the existing bare mirror
// and fetches into it (refs/pull/* included).
func TestCloneOrFetchTwice(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not on PATH")
	}
	src := t.TempDir()
	git := func(args ...string) string {
		c := exec.Command("git", append([]string{"-c", "user.name=a", "-c", "user.email=a@example.invalid", "-c", "commit.gpgsign=false"}, args...)...)
		c.Dir = src
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", "-A")
	git("commit", "-qm", "one")
	rem := gitrepo.Remote{URL: src, CacheDir: t.TempDir()}
	r, err := gitrepo.CloneOrFetch(context.Background(), rem)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("2"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("commit", "-qam", "two")
	two := git("rev-parse", "HEAD")
	git("update-ref", "refs/pull/1/head", two)
	r, err = gitrepo.CloneOrFetch(context.Background(), rem)
	if err != nil {
		t.Fatalf("second CloneOrFetch: %v", err)
	}
	defer r.Close()
	for _, rev := range []string{"refs/heads/main", "refs/pull/1/head"} {
		h, err := r.Resolve(rev)
		if err != nil || h.String() != two {
			t.Fatalf("%s = %v, %v; want %s", rev, h, err, two)
		}
	}
}
