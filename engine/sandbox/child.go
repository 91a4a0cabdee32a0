package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"time"
)

// Job is one kind of work a child does: it decodes its input and returns
// a JSON-encodable output, or an error (sent to the parent as text).
type Job func(ctx context.Context, input json.RawMessage) (any, error)

// IsChild reports whether args (os.Args) make this process a sandbox
// child: its first argument is ChildArg.
func IsChild(args []string) bool { return len(args) > 1 && args[1] == ChildArg }

// Serve is a child's main: it limits the process, reads one request from
// stdin, runs the named job from jobs and writes the answer to stdout. It
// returns the exit code. A job that exceeds the memory limit crashes the
// process (the parent reports that as a LimitError); the parent kills a
// job that runs past its deadline.
func Serve(stdin io.Reader, stdout, stderr io.Writer, jobs map[string]Job) int {
	var req request
	if err := json.NewDecoder(stdin).Decode(&req); err != nil {
		fmt.Fprintf(stderr, "sandbox child: read request: %v\n", err)
		return 2
	}
	if err := limit(req.Memory, req.Timeout); err != nil {
		fmt.Fprintf(stderr, "sandbox child: set limits: %v\n", err)
		return 2
	}
	job := jobs[req.Job]
	if job == nil {
		fmt.Fprintf(stderr, "sandbox child: unknown job %q\n", req.Job)
		return 2
	}
	ctx := context.Background()
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	var resp response
	out, err := job(ctx, req.Input)
	if err != nil {
		resp.Error = err.Error()
	} else if resp.Output, err = json.Marshal(out); err != nil {
		resp.Error = fmt.Sprintf("encode output: %v", err)
	}
	if err := json.NewEncoder(stdout).Encode(resp); err != nil {
		fmt.Fprintf(stderr, "sandbox child: write answer: %v\n", err)
		return 2
	}
	return 0
}

// limit applies the memory limit (Go's soft limit, then the hard rlimit)
// and a CPU-time backstop.
func limit(memory int64, timeout time.Duration) error {
	if memory > 0 {
		// The soft limit makes the collector work hard before the hard
		// limit is hit; the hard limit is what stops a bomb.
		debug.SetMemoryLimit(memory * 3 / 4)
		if err := setDataLimit(uint64(memory)); err != nil {
			return err
		}
	}
	if timeout > 0 {
		// CPU seconds across threads; the parent's wall-clock deadline is
		// the real limit, this only guards an orphaned child.
		if err := setCPULimit(uint64(2*timeout/time.Second) + 2); err != nil {
			return err
		}
	}
	return nil
}
