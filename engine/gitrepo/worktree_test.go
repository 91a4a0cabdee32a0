package gitrepo

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInitCommitMerge(t *testing.T) {
	dir := t.TempDir()
	r, err := Init(dir, "main")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	who := Signature{Name: "patchbay", Email: "patchbay@localhost", When: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("one\n"), 0o644)
	c1, err := r.CommitAll("first", who)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("two\n"), 0o644)
	c2, err := r.CommitAll("second", who)
	if err != nil {
		t.Fatal(err)
	}
	// The second commit becomes a pull request branch; main goes back to c1.
	if err := r.Branch("pr", c2); err != nil {
		t.Fatal(err)
	}
	if err := r.Branch("main", c1); err != nil {
		t.Fatal(err)
	}
	if main, _ := r.Resolve("main"); main != c1 {
		t.Fatalf("main = %s, want %s", main, c1)
	}
	m, err := r.Merge(c2, "Merge pull request #7 from sre/pr", who)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := r.Commit(m)
	if err != nil || len(mc.Parents) != 2 || mc.Parents[0] != c1 || mc.Parents[1] != c2 {
		t.Fatalf("merge commit = %+v, %v", mc, err)
	}
	if changed, _ := r.ChangedPaths(t.Context(), c1, m); len(changed) != 1 || changed[0] != "a.txt" {
		t.Errorf("changed = %v", changed)
	}
	if _, err := exec.LookPath("git"); err == nil {
		out, err := exec.Command("git", "-C", dir, "log", "--format=%s", "main").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "Merge pull request #7") {
			t.Errorf("git log: %s %v", out, err)
		}
		if out, err := exec.Command("git", "-C", dir, "status", "--porcelain").CombinedOutput(); err != nil || len(out) != 0 {
			t.Errorf("work tree not clean after merge: %q %v", out, err)
		}
	}
}
