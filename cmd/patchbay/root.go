package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/cli"
)

// app carries what every command needs from the outside world. Commands get
// their I/O and clock from here, never from package globals, so that tests
// run them in-process.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// getenv reads the environment; only cmd/ reads it.
	getenv func(string) string
	// now is the clock; --now flags override it per command.
	now func() time.Time
}

// run executes the patchbay command line and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: osGetenv, now: time.Now}
	return a.run(ctx, args)
}

func (a *app) run(ctx context.Context, args []string) int {
	root := a.newRootCmd()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	failed, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	// Findings were already printed by the command; everything else is
	// reported here, once.
	// A bare sentinel means the command already reported; wrapped ones carry
	// a message to print.
	if bare := err == errFindings || err == errInconclusive || err == errVerification; !bare {
		msg := err.Error()
		if errors.Is(err, errUsage) {
			msg = strings.TrimPrefix(msg, errUsage.Error()+": ")
		}
		fmt.Fprintf(a.stderr, "patchbay: %s\n", msg)
		if errors.Is(err, errUsage) {
			fmt.Fprintln(a.stderr, cli.HelpHint(failed))
		}
	}
	return exitCode(err)
}

func (a *app) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "patchbay",
		Short: "Patch management the GitOps way",
		Long: `patchbay keeps a fleet's desired patch state as CUE files in a Git repository
(the patch repository), compares it with what hosts report, gates promotions
from ring to ring with OPA policies, rolls merged changes out, and keeps a
signed audit trail in Git notes.

Exit codes:
  0  ok
  1  findings: invalid, not compliant, denied, or an error
  2  usage error
  3  inconclusive (missing evidence)
  4  verification failed`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return fmt.Errorf("%w: %v", errUsage, err)
	})
	root.AddCommand(
		a.newVersionCmd(),
		a.newInitCmd(),
		a.newValidateCmd(),
		a.newPlanCmd(),
		a.newDiffCmd(),
		a.newGateCmd(),
		a.newRolloutCmd(),
		a.newDevCmd(),
		a.newDemoCmd(),
		a.newVercmpCmd(),
		a.newInventoryCmd(),
		a.newAuditCmd(),
		a.newKeysCmd(),
		a.newPolicyCmd(),
		a.newServeCmd(),
		a.newTokenCmd(),
		a.newGitHubCmd(),
		a.newAdvisoriesCmd(),
		a.newProposeCmd(),
		a.newReportCmd(),
	)
	for _, c := range root.Commands() {
		c.SetFlagErrorFunc(root.FlagErrorFunc())
	}
	cli.Setup(root, fmt.Sprintf("%s %s/%s %s", resolvedVersion(), runtime.GOOS, runtime.GOARCH, runtime.Version()))
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageError("unknown command %q", args[0])
		}
		return nil
	}
	root.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
	return root
}
