//go:build unix

package gate

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
)

// BenchmarkDecideOverEvalCPU measures Decide against the evaluation alone
// (BenchmarkEvalOnly's loop: what `opa bench` times) in one process, in
// alternating chunks of 100 of each, so that both see the same load at
// nearly the same moment; the order alternates every round. Each chunk's
// cost is the process's CPU time (user and system, all threads: the
// garbage collector's included). One benchmark iteration is one round;
// it reports the medians over the rounds of Decide's and the evaluation's
// CPU per operation and of the per-round ratio:
//
//	go test ./engine/gate -run '^$' -bench DecideOverEvalCPU -benchtime 20x
func BenchmarkDecideOverEvalCPU(b *testing.B) {
	e, v := evalOnlySetup(b)
	in := benchInput(b)
	ctx := context.Background()
	const chunk = 100
	decide := func() {
		for range chunk {
			if d, err := e.Decide(ctx, in); err != nil || d.Result != Pass {
				b.Fatalf("decision %s, err %v, errors %v", d.Result, err, d.Errors)
			}
		}
	}
	eval := func() {
		for range chunk {
			if rs, err := e.query.Eval(ctx, rego.EvalParsedInput(v)); err != nil || len(rs) != 1 {
				b.Fatal(err)
			}
		}
	}
	decide() // warm both up: the template, the pools
	eval()
	var dec, ev, ratio []float64
	round := 0
	for b.Loop() {
		var d, x time.Duration
		if round%2 == 0 {
			d, x = cpuTime(b, decide), cpuTime(b, eval)
		} else {
			x, d = cpuTime(b, eval), cpuTime(b, decide)
		}
		round++
		dec = append(dec, float64(d.Microseconds())/chunk)
		ev = append(ev, float64(x.Microseconds())/chunk)
		ratio = append(ratio, float64(d)/float64(x))
	}
	b.ReportMetric(median(dec), "decide-cpu-us/op")
	b.ReportMetric(median(ev), "eval-cpu-us/op")
	b.ReportMetric(median(ratio), "ratio")
}

// cpuTime is the process CPU time (user and system) that f took.
func cpuTime(b *testing.B, f func()) time.Duration {
	before := rusage(b)
	f()
	return rusage(b) - before
}

func rusage(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}
