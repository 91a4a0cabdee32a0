package main

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestWriteAlignedMatchesTabwriter: the audit log table's own aligner
// writes what text/tabwriter wrote for the same cells: random tables of
// ASCII, multi-byte and empty cells, and cells with the characters
// tabwriter treats specially (which fall back to tabwriter). Fails if a
// column's width, the padding, the last column or the fallback differ.
func TestWriteAlignedMatchesTabwriter(t *testing.T) {
	pieces := []string{"", "-", "a", "#12", "alice", "carol,dave", "pass (deny:x)", "prod:succeeded 3/3; canary:halted 1/4",
		"ünïcödé", "日本語", "x", "\uFFFD", "a\tb", "two\nlines", "v\vt", "f\ff", "esc\xffape", "bad\xfe"}
	rng := rand.New(rand.NewPCG(1, 2))
	const plain = 11 // pieces[:plain] take the aligner's own path
	for n := range 400 {
		pool := pieces[:plain]
		if n >= 300 {
			pool = pieces
		}
		rows := make([][8]string, 1+rng.IntN(6))
		for i := range rows {
			for j := range rows[i] {
				rows[i][j] = pool[rng.IntN(len(pool))] + pool[rng.IntN(len(pool))]
			}
		}
		var got, want bytes.Buffer
		if err := writeAligned(&got, rows); err != nil {
			t.Fatal(err)
		}
		if err := writeTabbed(&want, rows); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("table %d %q:\ngot\n%q\nwant (tabwriter)\n%q", n, rows, got.String(), want.String())
		}
	}
}

// The specials must reach the fallback: without it, a tab in a cell would
// be padded here and split the cell in tabwriter.
func TestWriteAlignedSpecialCells(t *testing.T) {
	for _, c := range []string{"a\tb", "a\nb", "a\vb", "a\fb", "a\xffb"} {
		rows := [][8]string{{c, "x", "x", "x", "x", "x", "x", "x"}, {"long cell", "y", "y", "y", "y", "y", "y", "y"}}
		var got, want bytes.Buffer
		_ = writeAligned(&got, rows)
		_ = writeTabbed(&want, rows)
		if got.String() != want.String() {
			t.Errorf("%q: got %q, want %q", c, got.String(), want.String())
		}
	}
}
