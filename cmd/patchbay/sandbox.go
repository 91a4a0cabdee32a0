package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/change"
	"github.com/patchbay/patchbay/engine/sandbox"
)

// childMain is the sandbox child's main (see engine/sandbox): main and the
// tests' TestMain call it when sandbox.IsChild(os.Args).
func childMain() int {
	return sandbox.Serve(os.Stdin, os.Stdout, os.Stderr, change.Jobs())
}

// sandboxFlags are the limits of evaluating a patch repository that may be
// untrusted (a pull request's head): its CUE and the policies run in a
// child process of patchbay with these limits.
type sandboxFlags struct {
	memoryMiB int64
	timeout   time.Duration
}

func addSandboxFlags(cmd *cobra.Command) *sandboxFlags {
	f := &sandboxFlags{}
	cmd.Flags().Int64Var(&f.memoryMiB, "eval-memory", sandbox.DefaultMemory>>20, "memory limit of evaluating a change, in MiB (a CUE or Rego bomb is denied)")
	cmd.Flags().DurationVar(&f.timeout, "eval-timeout", sandbox.DefaultTimeout, "time limit of evaluating a change")
	return f
}

// evaluator returns a change evaluator whose evaluations run in a sandbox
// child of this executable.
func (f *sandboxFlags) evaluator() (*change.Evaluator, error) {
	if f.memoryMiB < 64 {
		return nil, usageError("--eval-memory must be at least 64 (MiB)")
	}
	if f.timeout < time.Second {
		return nil, usageError("--eval-timeout must be at least 1s")
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	r, err := sandbox.New(sandbox.Options{Path: exe, Limits: sandbox.Limits{Memory: f.memoryMiB << 20, Timeout: f.timeout}})
	if err != nil {
		return nil, err
	}
	ev := change.NewEvaluator()
	ev.Sandbox = r
	return ev, nil
}
