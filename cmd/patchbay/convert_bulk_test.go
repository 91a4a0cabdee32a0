package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/patchbay/patchbay/engine/inventory"
)

// runOK runs patchbay with args and returns its standard output, failing
// the test on a non-zero exit.
func runOK(t *testing.T, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("patchbay %s: exit %d; stderr:\n%s", strings.Join(args, " "), code, stderr.String())
	}
	return stdout.Bytes()
}

// TestInventoryConvertBulkPlan converts a generated fleet (JSON lines, and
// a directory holding it) to the bulk format and plans both: the plan JSON
// is the same byte for byte. gen-fleet writing the bulk format directly
// gives the same plan too, and a bulk file under another name is read by
// its header.
func TestInventoryConvertBulkPlan(t *testing.T) {
	dir := t.TempDir()
	ex := filepath.Join("..", "..", "examples", "quickstart")
	const now = "--now=2026-12-04T12:00:00Z"
	jsonl := filepath.Join(dir, "fleet.jsonl")
	gen := []string{"dev", "gen-fleet", "--hosts", "300", "--distinct-sets", "60", "--packages", "400"}
	runOK(t, append(gen, "--out", jsonl)...)
	bulk := filepath.Join(dir, "fleet.pbinv")
	runOK(t, "inventory", "convert", "--out", bulk, jsonl)
	direct := filepath.Join(dir, "direct.pbinv")
	runOK(t, append(gen, "--out", direct)...)
	misnamed := filepath.Join(dir, "bulk.jsonl")
	data, err := os.ReadFile(bulk)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(misnamed, data, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(jsonl)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data))*4 > st.Size() {
		t.Errorf("bulk file %d bytes, JSON lines %d: want at most a quarter", len(data), st.Size())
	}
	plan := func(inv string) []byte {
		return runOK(t, "plan", "-C", ex, "--inventory", inv, "--format", "json", now)
	}
	want := plan(jsonl)
	if len(want) < 1000 {
		t.Fatalf("plan JSON of %d bytes", len(want))
	}
	for _, inv := range []string{bulk, misnamed} {
		if got := plan(inv); !bytes.Equal(got, want) {
			t.Errorf("plan --inventory %s differs from the JSON-lines plan (%d bytes, want %d)", filepath.Base(inv), len(got), len(want))
		}
	}
	// gen-fleet's bulk file holds the fleet its JSON lines hold (but for
	// the collection times: gen-fleet dates reports by the clock).
	read := func(path string) []*inventory.Report {
		var out []*inventory.Report
		if err := inventory.ReadPath(context.Background(), path, nil, func(r *inventory.Report) error {
			out = append(out, r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if d := cmp.Diff(read(jsonl), read(direct), cmpopts.IgnoreFields(inventory.Report{}, "CollectedAt")); d != "" {
		t.Errorf("gen-fleet --out .pbinv (-jsonl +bulk):\n%s", d)
	}
	// A directory of JSON reports converts too.
	sub := filepath.Join(dir, "reports")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(jsonl, filepath.Join(sub, "fleet.jsonl")); err != nil {
		t.Fatal(err)
	}
	fromDir := filepath.Join(dir, "dir.pbinv")
	runOK(t, "inventory", "convert", "--out", fromDir, sub)
	if got := plan(fromDir); !bytes.Equal(got, want) {
		t.Error("plan of the bulk file converted from a directory differs")
	}
}

// TestInventoryConvertBulkErrors: --out with --from is a usage error, a
// damaged bulk file is an error naming the byte offset, and nothing is
// left behind when the input is bad.
func TestInventoryConvertBulkErrors(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"inventory", "convert", "--out", filepath.Join(dir, "x.pbinv"), "--from", "dpkg-status", "status"}, strings.NewReader(""), &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "give one of them") {
		t.Errorf("--out with --from: exit %d, stderr %s", code, stderr.String())
	}
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{\"hostId\":\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	out := filepath.Join(dir, "bad.pbinv")
	if code := run(context.Background(), []string{"inventory", "convert", "--out", out, bad}, strings.NewReader(""), &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "bad.jsonl:1") {
		t.Errorf("bad input: exit %d, stderr %s", code, stderr.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}

	good := filepath.Join(dir, "good.pbinv")
	runOK(t, "dev", "gen-fleet", "--hosts", "20", "--distinct-sets", "4", "--packages", "50", "--out", good)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, data[:len(data)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	ex := filepath.Join("..", "..", "examples", "quickstart")
	code = run(context.Background(), []string{"plan", "-C", ex, "--inventory", good}, strings.NewReader(""), &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "good.pbinv: bulk inventory: byte ") || !strings.Contains(stderr.String(), "truncated") {
		t.Errorf("truncated bulk file: exit %d, stderr %s", code, stderr.String())
	}
}
