package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden pins the output of commands on the bundled example in every
// format. Run go test ./cmd/patchbay -run TestGolden -update after an
// intended change and review the diff.
func TestGolden(t *testing.T) {
	const now = "--now=2026-11-26T09:00:00Z"
	ex := filepath.Join("..", "..", "examples", "quickstart")
	inv := filepath.Join(ex, "inventory")
	tests := []struct {
		golden string
		args   []string
		code   int
	}{
		{"plan.txt", []string{"plan", "-C", ex, "--inventory", inv, now}, 0},
		{"plan.json", []string{"plan", "-C", ex, "--inventory", inv, now, "--format", "json"}, 0},
		{"plan.md", []string{"plan", "-C", ex, "--inventory", inv, now, "--format", "markdown"}, 0},
		{"plan-canary.txt", []string{"plan", "-C", ex, "--inventory", inv, now, "--ring", "canary", "--exit-code"}, 1},
		{"plan-host.json", []string{"plan", "-C", ex, "--inventory", inv, now, "--host", "deb12-prod-02", "--format", "json"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			path := filepath.Join("testdata", "golden", tt.golden)
			if *updateGolden {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, stdout.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if diff := cmp.Diff(string(want), stdout.String()); diff != "" {
				t.Errorf("%s differs (-want +got):\n%s", path, diff)
			}
		})
	}
}
