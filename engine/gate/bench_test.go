package gate_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/gate"
)

var update = flag.Bool("update", false, "rewrite testdata/promotion-input.json and testdata/builtin-query.txt")

// TestBuiltinQueryFile keeps testdata/builtin-query.txt (the query that
// .ci/bench-gate gives to `opa bench`) equal to the built-in
// engine's prepared query. Refresh it with -update.
func TestBuiltinQueryFile(t *testing.T) {
	golden(t, "builtin-query.txt", []byte(builtin(t).Query()+"\n"))
}

// TestPromotionInputFile keeps testdata/promotion-input.json (the input
// that .ci/bench-gate gives to `opa bench`) equal to the canonical
// JSON of the benchmark's input. Refresh it with -update.
func TestPromotionInputFile(t *testing.T) {
	got, err := json.MarshalIndent(gate.Canonical(promotion()), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "promotion-input.json", append(got, '\n'))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s is stale; run go test -run 'Test.*File' -update (-file +want):\n%s", path, diff)
	}
}

// BenchmarkDecide is one gate decision with the prepared query on a
// passing promotion (every rule evaluated, nothing short-circuited).
// .ci/bench-gate compares it with `opa bench` on the same input.
func BenchmarkDecide(b *testing.B) {
	eng := builtin(b)
	in := promotion()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d, err := eng.Decide(ctx, in)
		if err != nil || d.Result != gate.Pass {
			b.Fatalf("decision %s, err %v, errors %v", d.Result, err, d.Errors)
		}
	}
}

// BenchmarkNew is preparing the built-in bundle: what Decide must not
// repeat.
func BenchmarkNew(b *testing.B) {
	bundle, err := gate.WithBuiltin(nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := gate.New(ctx, bundle); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecideTimedLikeOPABench is BenchmarkDecide timed the way
// `opa bench` times its evaluations: the timer runs only around each call
// (StartTimer/StopTimer per iteration), so that .ci/bench-gate
// compares like with like. With -benchmem, StopTimer reads the memory
// statistics each iteration, outside the timed region.
func BenchmarkDecideTimedLikeOPABench(b *testing.B) {
	eng := builtin(b)
	in := promotion()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StartTimer()
		d, err := eng.Decide(ctx, in)
		b.StopTimer()
		if err != nil || d.Result != gate.Pass {
			b.Fatalf("decision %s, err %v, errors %v", d.Result, err, d.Errors)
		}
	}
}

// BenchmarkDecideNewBase is BenchmarkDecide with the config changing on
// every decision (two configs in turn), so that the config and rings value
// is never the last decision's: the first decision against a new base.
func BenchmarkDecideNewBase(b *testing.B) {
	eng := builtin(b)
	ins := []gate.Input{promotion(), promotion()}
	ins[1].Config.Exceptions.MaxDays++
	decideInTurn(b, eng, ins)
}

// decideInTurn decides the inputs in turn, each expected to pass.
func decideInTurn(b *testing.B, eng *gate.Engine, ins []gate.Input) {
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		d, err := eng.Decide(ctx, ins[i%len(ins)])
		if err != nil || d.Result != gate.Pass {
			b.Fatalf("decision %s, err %v, errors %v", d.Result, err, d.Errors)
		}
	}
}

// BenchmarkDecideOtherPR is BenchmarkDecide with two pull requests decided
// in turn, their inputs of the same size but each part of their change,
// pull request, reviews and evidence different: no part is taken from the
// last decision's value (the config and rings still are, as for two pull
// requests against one base).
// BenchmarkDecide, which decides one pull request again and again, takes
// every part from the last decision.
func BenchmarkDecideOtherPR(b *testing.B) {
	eng := builtin(b)
	ins := []gate.Input{promotion(), promotion()}
	ins[1].PR.Number++
	ins[1].PR.Labels = []string{"other"}
	ins[1].Change.EffectDigest = "sha256:other"
	ins[1].Reviews[1].SubmittedAt = ins[1].Reviews[1].SubmittedAt.Add(time.Minute)
	ins[1].Evidence[0].SoakHours++
	decideInTurn(b, eng, ins)
}
