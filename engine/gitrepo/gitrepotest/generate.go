package gitrepotest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Generate makes a repository in dir with main holding n commits on the
// first-parent line, every second one a --no-ff merge of a one-commit
// branch with the message "Merge pull request #k from user/branch-k", using
// git fast-import (seconds for 10,000 commits). notes(k, hash) returns the
// note text for merge k ("" for none); notes are written to
// refs/notes/patchbay in one notes commit by a second import. It then writes
// a commit-graph file and returns the merge commits, oldest first.
func Generate(tb testing.TB, dir string, n int, notes func(k int, merge string) string) []string {
	tb.Helper()
	return GenerateWith(tb, dir, GenerateOptions{Commits: n, Note: notes})
}

// GenerateOptions configures GenerateWith.
type GenerateOptions struct {
	// Commits is the number of commits on main's first-parent line.
	Commits int
	// Note returns the note for merge k (0-based, oldest first), "" for none.
	Note func(k int, merge string) string
	// NotesMessage returns the notes commit's message; it is called after
	// every Note call. Default: "Notes added by 'patchbay'".
	NotesMessage func() string
}

// GenerateWith is Generate with options.
func GenerateWith(tb testing.TB, dir string, o GenerateOptions) []string {
	n, notes := o.Commits, o.Note
	tb.Helper()
	RequireGit(tb)
	if _, err := RunGit(dir, 0, nil, "init", "-q", "-b", "main"); err != nil {
		tb.Fatal(err)
	}
	var b bytes.Buffer
	t0 := int64(1767225600)
	mark := 0
	when := func() int64 { t0 += 60; return t0 }
	last := 0
	var mergeMarks []int
	blob := func(s string) int {
		mark++
		fmt.Fprintf(&b, "blob\nmark :%d\ndata %d\n%s\n", mark, len(s), s)
		return mark
	}
	commit := func(ref, msg string, parents []int, file string, content int) int {
		mark++
		ts := when()
		fmt.Fprintf(&b, "commit %s\nmark :%d\nauthor Ada Author <ada@example.com> %d +0000\ncommitter Cy Committer <cy@example.com> %d +0000\ndata %d\n%s\n",
			ref, mark, ts, ts, len(msg), msg)
		for i, p := range parents {
			if i == 0 {
				fmt.Fprintf(&b, "from :%d\n", p)
			} else {
				fmt.Fprintf(&b, "merge :%d\n", p)
			}
		}
		if content > 0 {
			fmt.Fprintf(&b, "M 100644 :%d %s\n", content, file)
		}
		return mark
	}
	last = commit("refs/heads/main", "initial commit\n", nil, "README", blob("generated\n"))
	for i := 1; i < n; i++ {
		if i%2 == 1 {
			k := len(mergeMarks) + 1
			c := blob(fmt.Sprintf("change %d\n", k))
			br := fmt.Sprintf("refs/heads/pr-%d", k)
			fmt.Fprintf(&b, "reset %s\nfrom :%d\n\n", br, last)
			side := commit(br, fmt.Sprintf("change for #%d\n", k), []int{last}, fmt.Sprintf("baselines/b%d.cue", k), c)
			i++
			last = commit("refs/heads/main", fmt.Sprintf("Merge pull request #%d from user%d/pr-%d\n\nchange for #%d\n", k, k%7, k, k), []int{last, side}, "", 0)
			mergeMarks = append(mergeMarks, last)
			continue
		}
		last = commit("refs/heads/main", fmt.Sprintf("direct commit %d\n", i), []int{last}, "README", blob(fmt.Sprintf("generated %d\n", i)))
	}
	marksFile := filepath.Join(dir, ".git", "marks")
	if _, err := RunGit(dir, 0, b.Bytes(), "fast-import", "--quiet", "--export-marks="+marksFile); err != nil {
		tb.Fatalf("fast-import: %v", err)
	}
	marks, err := os.ReadFile(marksFile)
	if err != nil {
		tb.Fatal(err)
	}
	byMark := map[int]string{}
	for _, line := range bytes.Split(marks, []byte("\n")) {
		var m int
		var h string
		if _, err := fmt.Sscanf(string(line), ":%d %s", &m, &h); err == nil {
			byMark[m] = h
		}
	}
	out := make([]string, len(mergeMarks))
	for i, m := range mergeMarks {
		out[i] = byMark[m]
	}
	if notes != nil {
		var body bytes.Buffer
		for k, h := range out {
			if text := notes(k, h); text != "" {
				fmt.Fprintf(&body, "N inline %s\ndata %d\n%s\n", h, len(text), text)
			}
		}
		msg := "Notes added by 'patchbay'\n"
		if o.NotesMessage != nil {
			msg = o.NotesMessage()
		}
		var nb bytes.Buffer
		fmt.Fprintf(&nb, "commit refs/notes/patchbay\ncommitter Cy Committer <cy@example.com> %d +0000\ndata %d\n%s", when(), len(msg), msg)
		nb.Write(body.Bytes())
		if _, err := RunGit(dir, 0, nb.Bytes(), "fast-import", "--quiet"); err != nil {
			tb.Fatalf("fast-import notes: %v", err)
		}
	}
	if _, err := RunGit(dir, 0, nil, "commit-graph", "write", "--reachable"); err != nil {
		tb.Fatalf("commit-graph: %v", err)
	}
	return out
}
