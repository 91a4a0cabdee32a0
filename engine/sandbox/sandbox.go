// Package sandbox runs untrusted evaluation — a pull request head's CUE and
// the Rego evaluated over it — in a child process of patchbay itself, with
// a memory limit and a deadline. A CUE comprehension bomb or a looping
// policy then ends as a clear LimitError ("evaluation exceeded 512 MiB /
// 10s") instead of taking down `patchbay serve` or hanging CI, and a
// cancelled context (SIGTERM, SIGINT) kills the child at once.
//
// The parent side is a Runner: it re-executes the running binary (Path)
// with the hidden first argument ChildArg, writes the job's request to the
// child's stdin as JSON and reads the answer from its stdout. The child
// side is Serve, which a binary calls first thing in main when IsChild
// says it is one — and so does a test binary, in TestMain. The jobs are
// passed to Serve explicitly (no registration).
//
// The child limits itself before it decodes anything: RLIMIT_DATA (the
// hard cap on its heap), Go's soft memory limit, and RLIMIT_CPU as a
// backstop; the parent enforces the deadline by killing it. The child is
// killed with the parent (Pdeathsig) and runs at most Concurrency at once
// per Runner, so a burst of bombs costs at most Concurrency × Memory.
//
// sandbox imports only the standard library; it knows nothing of CUE,
// OPA or patch repositories.
package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// ChildArg is the hidden first argument that makes a patchbay binary (or
// a test binary) a sandbox child.
const ChildArg = "__patchbay-sandbox-child"

// Default limits of one evaluation.
const (
	DefaultMemory  = 512 << 20
	DefaultTimeout = 10 * time.Second
)

// maxOutput bounds a child's answer; maxStderr what is kept of its stderr.
const (
	maxOutput = 256 << 20
	maxStderr = 16 << 10
)

// ErrLimit is wrapped by LimitError.
var ErrLimit = errors.New("evaluation exceeded its limits")

// ErrChild means the child failed for another reason (it crashed, or
// answered something that is not an answer).
var ErrChild = errors.New("sandboxed evaluation failed")

// Limits bound one evaluation.
type Limits struct {
	// Memory is the most memory the child may use, in bytes; 0 means
	// DefaultMemory.
	Memory int64
	// Timeout is how long the child may run; 0 means DefaultTimeout.
	Timeout time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.Memory <= 0 {
		l.Memory = DefaultMemory
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	return l
}

// String is "512 MiB / 10s".
func (l Limits) String() string {
	l = l.withDefaults()
	return fmt.Sprintf("%d MiB / %s", l.Memory>>20, l.Timeout)
}

// LimitError is an evaluation that ran out of memory or time.
type LimitError struct {
	// Resource is "memory" or "time".
	Resource string
	Limits   Limits
}

func (e *LimitError) Error() string {
	what := "ran out of memory"
	if e.Resource == "time" {
		what = "ran out of time"
	}
	return fmt.Sprintf("evaluation exceeded %s (%s): the change is too expensive to evaluate", e.Limits, what)
}

// Unwrap makes errors.Is(err, ErrLimit) true.
func (e *LimitError) Unwrap() error { return ErrLimit }

// JobError is an error a job returned in the child, as text.
type JobError struct{ Msg string }

func (e *JobError) Error() string { return e.Msg }

// Runner starts sandbox children. It is safe for concurrent use.
type Runner struct {
	path   string
	argv0  string
	limits Limits
	sem    chan struct{}
}

// Options configure a Runner.
type Options struct {
	// Path is the executable to run: the running binary
	// (os.Executable()) — a patchbay binary or a test binary whose main or
	// TestMain calls Serve when IsChild. Required.
	Path string
	// Argv0 is the child's os.Args[0]; empty means "patchbay-sandbox".
	Argv0 string
	Limits
	// Concurrency is how many children may run at once; 0 means the
	// number of CPUs.
	Concurrency int
}

// New returns a Runner.
func New(o Options) (*Runner, error) {
	if o.Path == "" {
		return nil, errors.New("sandbox: Options.Path is required (the running executable)")
	}
	if o.Argv0 == "" {
		o.Argv0 = "patchbay-sandbox"
	}
	if o.Concurrency <= 0 {
		o.Concurrency = runtime.NumCPU()
	}
	return &Runner{path: o.Path, argv0: o.Argv0, limits: o.Limits.withDefaults(), sem: make(chan struct{}, o.Concurrency)}, nil
}

// Limits returns the runner's limits.
func (r *Runner) Limits() Limits { return r.limits }

// request is what the parent writes to the child's stdin.
type request struct {
	Job     string          `json:"job"`
	Memory  int64           `json:"memory"`
	Timeout time.Duration   `json:"timeout"`
	Input   json.RawMessage `json:"input"`
}

// response is what the child writes to its stdout.
type response struct {
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// Run runs job in a child with in (JSON-encoded) as its input and decodes
// its output into out. It returns a *LimitError when the child ran out of
// memory or time, a *JobError when the job failed, ctx's error when ctx
// ended (the child is killed), and an error wrapping ErrChild otherwise.
func (r *Runner) Run(ctx context.Context, job string, in, out any) error {
	input, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("sandbox %s: encode input: %w", job, err)
	}
	req, err := json.Marshal(request{Job: job, Memory: r.limits.Memory, Timeout: r.limits.Timeout, Input: input})
	if err != nil {
		return fmt.Errorf("sandbox %s: %w", job, err)
	}
	select {
	case r.sem <- struct{}{}:
		defer func() { <-r.sem }()
	case <-ctx.Done():
		return fmt.Errorf("sandbox %s: %w", job, ctx.Err())
	}
	runCtx, cancel := context.WithTimeout(ctx, r.limits.Timeout)
	defer cancel()
	stdout := &capped{max: maxOutput}
	stderr := &tail{max: maxStderr}
	cmd := &exec.Cmd{Path: r.path, Args: []string{r.argv0, ChildArg}, Env: []string{}, Stdin: bytes.NewReader(req), Stdout: stdout, Stderr: stderr,
		SysProcAttr: sysProcAttr()}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: start %s: %w", ErrChild, r.path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var waitErr error
	select {
	case waitErr = <-done:
	case <-runCtx.Done():
		_ = cmd.Process.Kill()
		<-done
		if ctx.Err() != nil {
			return fmt.Errorf("sandbox %s: %w", job, ctx.Err())
		}
		return &LimitError{Resource: "time", Limits: r.limits}
	}
	if waitErr != nil {
		if outOfMemory(stderr.String(), cmd.ProcessState) {
			return &LimitError{Resource: "memory", Limits: r.limits}
		}
		if cpuExceeded(cmd.ProcessState) {
			return &LimitError{Resource: "time", Limits: r.limits}
		}
		return fmt.Errorf("%w: %s: %v: %s", ErrChild, job, waitErr, lastLines(stderr.String(), 3))
	}
	if stdout.over {
		return fmt.Errorf("%w: %s: answer larger than %d bytes", ErrChild, job, maxOutput)
	}
	var resp response
	if err := json.Unmarshal(stdout.Bytes(), &resp); err != nil {
		return fmt.Errorf("%w: %s: malformed answer: %v", ErrChild, job, err)
	}
	if resp.Error != "" {
		return &JobError{Msg: resp.Error}
	}
	if out != nil {
		if err := json.Unmarshal(resp.Output, out); err != nil {
			return fmt.Errorf("%w: %s: decode output: %v", ErrChild, job, err)
		}
	}
	return nil
}

// outOfMemory reads the Go runtime's last words, and a kill by the
// kernel's OOM killer.
func outOfMemory(stderr string, ps interface{ Sys() any }) bool {
	if strings.Contains(stderr, "out of memory") || strings.Contains(stderr, "cannot allocate memory") {
		return true
	}
	if strings.Contains(stderr, "pthread_create failed") {
		return true // a thread's stack could not be mapped under the cap
	}
	if raceEnabled && (strings.Contains(stderr, "SIGSEGV") || strings.Contains(stderr, "SIGBUS") || strings.Contains(stderr, "SIGABRT") || strings.Contains(stderr, "fatal error")) {
		return true // the race runtime's answer to a refused mapping
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		return true // nobody else kills it: the parent's kill is handled above
	}
	return false
}

func cpuExceeded(ps interface{ Sys() any }) bool {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGXCPU
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n] // the first lines of a Go crash say what it was
	}
	return strings.Join(lines, " | ")
}

// capped is a buffer that stops growing at max.
type capped struct {
	bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if c.Len()+len(p) > c.max {
		c.over = true
		return len(p), nil
	}
	return c.Buffer.Write(p)
}

// tail keeps the first max bytes written (a Go crash says what it was at
// the top).
type tail struct {
	bytes.Buffer
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	if room := t.max - t.Len(); room > 0 {
		t.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

var _ io.Writer = (*capped)(nil)
