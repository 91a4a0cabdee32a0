package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDevBenchGate runs the hidden bench-gate command for a few decisions:
// one line per run in the Go benchmark format with the number of decisions
// asked for, the decision on stderr, and usage errors for what is wrong.
func TestDevBenchGate(t *testing.T) {
	input := filepath.Join("..", "..", "engine", "gate", "testdata", "promotion-input.json")
	out := string(runOK(t, "dev", "bench-gate", "--input", input, "--benchtime", "3x", "--count", "2"))
	line := regexp.MustCompile(`^BenchmarkDecide\t +3\t +[0-9]+ ns/op\t +[0-9]+ B/op\t +[0-9]+ allocs/op$`)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines (--count 2), got:\n%s", out)
	}
	for _, l := range lines {
		if !line.MatchString(l) {
			t.Errorf("not a benchmark line for 3 decisions: %q", l)
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"now": "yesterday"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no input", []string{"dev", "bench-gate"}, exitUsage, "--input is required"},
		{"bad benchtime", []string{"dev", "bench-gate", "--input", input, "--benchtime", "soon"}, exitUsage, "--benchtime"},
		{"no runs", []string{"dev", "bench-gate", "--input", input, "--count", "0"}, exitUsage, "--count"},
		{"bad input", []string{"dev", "bench-gate", "--input", bad}, exitFindings, "read input"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("exit %d, want %d; stderr %q, want it to contain %q", code, tt.code, stderr.String(), tt.stderr)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: %q, want nothing", stdout.String())
			}
		})
	}
}
