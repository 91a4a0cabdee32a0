package gate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// evalOnlySetup returns the engine of the built-in policies and the
// benchmark input (the one BenchmarkDecide and .ci/bench-gate use) as a
// Rego value built once: what `opa bench` evaluates.
func evalOnlySetup(b *testing.B) (*Engine, ast.Value) {
	b.Helper()
	files, err := Builtin()
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(context.Background(), Bundle{Files: files})
	if err != nil || e.Err() != nil {
		b.Fatal(err, e.Err())
	}
	// The same input as BenchmarkDecide and .ci/bench-gate.
	raw, err := os.ReadFile(filepath.Join("testdata", "promotion-input.json"))
	if err != nil {
		b.Fatal(err)
	}
	v, err := ast.ValueFromReader(bytes.NewReader(raw))
	if err != nil {
		b.Fatal(err)
	}
	return e, v
}

// BenchmarkEvalOnly is the prepared query alone on an input value built
// once: what `opa bench` measures. Compare with BenchmarkDecide to see the
// cost of building the input, digesting it and reading the findings.
func BenchmarkEvalOnly(b *testing.B) {
	e, v := evalOnlySetup(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		rs, err := e.query.Eval(ctx, rego.EvalParsedInput(v))
		if err != nil || len(rs) != 1 {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvalOnlyTimedLikeOPABench is BenchmarkEvalOnly timed the way
// `opa bench` times (the timer started and stopped around each call), in
// this test binary: against BenchmarkDecideTimedLikeOPABench it separates
// what Decide adds from what the per-call timer and the binary add.
func BenchmarkEvalOnlyTimedLikeOPABench(b *testing.B) {
	e, v := evalOnlySetup(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StartTimer()
		rs, err := e.query.Eval(ctx, rego.EvalParsedInput(v))
		b.StopTimer()
		if err != nil || len(rs) != 1 {
			b.Fatal(err)
		}
	}
}

// BenchmarkInput is the Go side of a decision without the evaluation:
// normalizing the input, its canonical JSON, digest and Rego value.
func BenchmarkInput(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "promotion-input.json"))
	if err != nil {
		b.Fatal(err)
	}
	var in Input
	if err := json.Unmarshal(raw, &in); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		norm := in.normalized()
		canon, err := json.Marshal(norm)
		if err != nil {
			b.Fatal(err)
		}
		_ = sha256.Sum256(canon)
		_ = norm.value()
	}
}

// BenchmarkDecideInput is the Go side of a decision as Decide does it:
// normalizing, the canonical JSON by the typed encoder, its digest, and the
// value with the config and rings from the template. Compare with
// BenchmarkInput, the way before the template and the encoder.
func BenchmarkDecideInput(b *testing.B) {
	in := benchInput(b)
	e := &Engine{}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		norm := in.normalizedView()
		canon, parts, err := norm.canonicalJSON(buf[:0])
		if err != nil {
			b.Fatal(err)
		}
		_ = sha256.Sum256(canon)
		_ = e.inputValue(norm, canon, parts)
	}
}
