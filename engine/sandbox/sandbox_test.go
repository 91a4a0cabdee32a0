package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/sandbox"
)

// jobs are the test binary's child jobs.

// bombSink keeps what the alloc job allocates reachable.
var bombSink [][]byte

var jobs = map[string]sandbox.Job{
	"echo": func(_ context.Context, in json.RawMessage) (any, error) {
		var s string
		err := json.Unmarshal(in, &s)
		return strings.ToUpper(s), err
	},
	// alloc keeps allocating and touching memory: a bomb.
	"alloc": func(context.Context, json.RawMessage) (any, error) {
		for {
			b := make([]byte, 8<<20)
			for i := range b {
				b[i] = byte(i)
			}
			bombSink = append(bombSink, b)
		}
	},
	// spin never ends and allocates nothing.
	"spin": func(context.Context, json.RawMessage) (any, error) {
		x := 0
		for {
			x++
		}
	},
	"fail": func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("the job says no") },
	"crash": func(context.Context, json.RawMessage) (any, error) {
		panic("boom")
	},
}

func TestMain(m *testing.M) {
	if sandbox.IsChild(os.Args) {
		os.Exit(sandbox.Serve(os.Stdin, os.Stdout, os.Stderr, jobs))
	}
	os.Exit(m.Run())
}

func runner(t testing.TB, l sandbox.Limits) *sandbox.Runner {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, err := sandbox.New(sandbox.Options{Path: exe, Limits: l})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRunEcho(t *testing.T) {
	var out string
	if err := runner(t, sandbox.Limits{}).Run(context.Background(), "echo", "hello", &out); err != nil {
		t.Fatal(err)
	}
	if out != "HELLO" {
		t.Errorf("out = %q", out)
	}
}

// TestMemoryBomb: a child that allocates without end is stopped at its
// memory limit and reported as such; the parent is unharmed.
func TestMemoryBomb(t *testing.T) {
	l := sandbox.Limits{Memory: 256 << 20, Timeout: 60 * time.Second}
	err := runner(t, l).Run(context.Background(), "alloc", nil, nil)
	var le *sandbox.LimitError
	if !errors.As(err, &le) || le.Resource != "memory" {
		t.Fatalf("err = %v, want a memory LimitError", err)
	}
	if !errors.Is(err, sandbox.ErrLimit) || !strings.Contains(err.Error(), "exceeded 256 MiB / 1m0s") {
		t.Errorf("message %q", err)
	}
}

// TestDeadline: a child that never ends is killed at the deadline.
func TestDeadline(t *testing.T) {
	start := time.Now()
	err := runner(t, sandbox.Limits{Timeout: 500 * time.Millisecond}).Run(context.Background(), "spin", nil, nil)
	var le *sandbox.LimitError
	if !errors.As(err, &le) || le.Resource != "time" {
		t.Fatalf("err = %v, want a time LimitError", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %s", took)
	}
}

// TestCancel: the caller's cancellation (SIGTERM in the CLI) kills the
// child at once and is not a limit.
func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(300 * time.Millisecond); cancel() }()
	start := time.Now()
	err := runner(t, sandbox.Limits{Timeout: time.Minute}).Run(ctx, "spin", nil, nil)
	if !errors.Is(err, context.Canceled) || errors.Is(err, sandbox.ErrLimit) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %s", took)
	}
}

func TestJobErrorAndCrash(t *testing.T) {
	r := runner(t, sandbox.Limits{})
	var je *sandbox.JobError
	if err := r.Run(context.Background(), "fail", nil, nil); !errors.As(err, &je) || je.Msg != "the job says no" {
		t.Errorf("fail: %v", err)
	}
	if err := r.Run(context.Background(), "crash", nil, nil); !errors.Is(err, sandbox.ErrChild) || !strings.Contains(err.Error(), "boom") || errors.Is(err, sandbox.ErrLimit) {
		t.Errorf("crash: %v", err)
	}
	if err := r.Run(context.Background(), "nope", nil, nil); !errors.Is(err, sandbox.ErrChild) {
		t.Errorf("unknown job: %v", err)
	}
}

// BenchmarkRoundTrip measures what a sandbox adds to a job: start a child
// of this binary, hand it a request, read its answer.
func BenchmarkRoundTrip(b *testing.B) {
	r := runner(b, sandbox.Limits{})
	for b.Loop() {
		var out string
		if err := r.Run(context.Background(), "echo", "x", &out); err != nil {
			b.Fatal(err)
		}
	}
}
