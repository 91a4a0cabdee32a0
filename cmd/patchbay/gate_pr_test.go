package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/gate"
)

// TestReadPRLabels (issue 12, item 10): `gate --pr` dropped plain-string
// labels and failed on GitHub's label objects (which the workflow passes),
// so label rules such as the emergency lane never fired in CI.
func TestReadPRLabels(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, json string
		want       gate.PullRequest
	}{
		{"patchbay shape, plain strings", `{"number": 7, "author": "a", "labels": ["emergency", "change:CHG-1"], "head_sha": "abc"}`,
			gate.PullRequest{Number: 7, Author: "a", Labels: []string{"emergency", "change:CHG-1"}, HeadSHA: "abc"}},
		{"GitHub API object", `{"number": 8, "user": {"login": "b"}, "labels": [{"id": 1, "name": "emergency", "color": "f00"}],
			"head": {"sha": "def"}, "base": {"ref": "main", "sha": "0123"}}`,
			gate.PullRequest{Number: 8, Author: "b", Labels: []string{"emergency"}, HeadSHA: "def", BaseRef: "main"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "pr.json")
			if err := os.WriteFile(p, []byte(tt.json), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readPR(p)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
