package advisory_test

import (
	"flag"
	"os"
	"testing"
)

// fuzzMinimize bounds how much a fuzz worker spends minimizing a new
// interesting input, unless -fuzzminimizetime is given. Go's default is
// 60 s, and its byte minimizer tries O(n²) cuts of an n-byte input, each
// an execution: on inputs of a few KB (the real feed samples and what
// mutation grows from them) a worker spent the whole minute minimizing
// and the fuzzer's executions stalled at 5-20 ("hung ... while
// minimizing" when interrupted). A bounded count keeps minimization to
// milliseconds and fuzzing going; run with -fuzzminimizetime 60s to
// minimize a crasher harder.
const fuzzMinimize = "1000x"

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.fuzzminimizetime" })
	if !set {
		if err := flag.Set("test.fuzzminimizetime", fuzzMinimize); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
