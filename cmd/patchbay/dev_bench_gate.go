package main

import (
	"errors"
	"flag"
	"fmt"
	"testing"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/gate"
)

func (a *app) newBenchGateCmd() *cobra.Command {
	var (
		input     string
		benchtime string
		count     int
	)
	cmd := &cobra.Command{
		Use:   "bench-gate",
		Short: "Time gate decisions the way `opa bench` times evaluations",
		Long: `bench-gate times gate decisions (gate.Engine.Decide with the built-in
policies) on the promotion input in --input, in this binary, with the loop
of ` + "`opa bench`" + ` (its goBenchRunner): testing.Benchmark, the timer started
before and stopped after each decision, allocations reported. Each decision
builds the input value, its canonical JSON and digest, evaluates the
prepared query and reads the findings; nothing is cached across decisions
that Decide does not cache itself.

It prints one line per run in the Go benchmark format, as
` + "`opa bench --format gobench --benchmem`" + ` does:

  BenchmarkDecide	N	T ns/op	B B/op	A allocs/op

so that .ci/bench-gate compares two whole processes, the patchbay binary
and the opa binary, each timing its own work in its own heap. The result
of the first decision goes to stderr; a decision that cannot be evaluated
(Decision.Errors) is an error.`,
		Example: `  patchbay dev bench-gate --input engine/gate/testdata/promotion-input.json
  opa bench --format gobench --benchmem --metrics=false -d policies/ --ignore '*_test.rego' \
    -i engine/gate/testdata/promotion-input.json "$(cat engine/gate/testdata/builtin-query.txt)"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if input == "" {
				return usageError("--input is required")
			}
			if count < 1 {
				return usageError("--count must be at least 1")
			}
			// testing.Benchmark reads its duration from the testing
			// flags, which exist only after testing.Init (as in opa bench).
			// The flag is process-wide: it is put back afterwards (this
			// command also runs inside the cmd tests' own test binary).
			testing.Init()
			bt := flag.Lookup("test.benchtime")
			defer bt.Value.Set(bt.Value.String())
			if err := bt.Value.Set(benchtime); err != nil {
				return usageError("--benchtime %q: %v", benchtime, err)
			}
			var in gate.Input
			if err := readJSON(input, &in); err != nil {
				return fmt.Errorf("read input: %w", err)
			}
			bundle, err := gate.WithBuiltin(nil)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			eng, err := gate.New(ctx, bundle)
			if err != nil {
				return err
			}
			if err := eng.Err(); err != nil {
				return err
			}
			d, err := eng.Decide(ctx, in)
			if err != nil {
				return err
			}
			if len(d.Errors) > 0 {
				return fmt.Errorf("the decision could not be evaluated: %v", d.Errors)
			}
			fmt.Fprintf(a.stderr, "bench-gate: decision %s (%d deny, %d warn, %d missing), input %s\n",
				d.Result, len(d.Deny), len(d.Warn), len(d.Missing), d.Manifest.InputDigest)
			for range count {
				var decideErr error
				// The loop of opa bench's goBenchRunner, with Decide for
				// its prepared query's Eval.
				br := testing.Benchmark(func(b *testing.B) {
					b.ReportAllocs()
					b.ResetTimer()
					for range b.N {
						b.StartTimer()
						_, err := eng.Decide(ctx, in)
						b.StopTimer()
						if err != nil {
							decideErr = err
							b.FailNow()
						}
					}
				})
				if decideErr != nil {
					return decideErr
				}
				if br.N == 0 {
					return errors.New("the benchmark did not run")
				}
				fmt.Fprintf(a.stdout, "BenchmarkDecide\t%s\t%s\n", br.String(), br.MemString())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&input, "input", "", "promotion input: the canonical input JSON of a decision (its digest is the manifest's input_digest), e.g. engine/gate/testdata/promotion-input.json")
	cmd.Flags().StringVar(&benchtime, "benchtime", "1s", "how long each run lasts (a duration, or Nx for N decisions); opa bench uses 1s")
	cmd.Flags().IntVar(&count, "count", 1, "number of runs, one line each")
	return cmd
}
