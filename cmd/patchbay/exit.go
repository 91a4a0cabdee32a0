package main

import (
	"errors"
	"fmt"
)

// Exit codes of the patchbay command. This table is the only place they are
// defined; README.md documents it and exitCode maps errors onto it.
//
//	0  ok: valid, compliant, gate passed, verification succeeded
//	1  findings: invalid repository, non-compliant plan, gate denied, runtime error
//	2  usage: unknown command or flag, bad argument
//	3  inconclusive: the gate lacks evidence to decide
//	4  verification failed: a signature or the audit chain did not verify
const (
	exitOK           = 0
	exitFindings     = 1
	exitUsage        = 2
	exitInconclusive = 3
	exitVerification = 4
)

// Sentinel errors that select an exit code. Commands wrap them with %w.
var (
	// errFindings means the command ran and its result is negative: the
	// repository is invalid, the plan is not compliant or the gate denied.
	// The command has already printed the details.
	errFindings = errors.New("findings")
	// errUsage means the command line itself is wrong.
	errUsage = errors.New("usage")
	// errInconclusive means a decision could not be made for lack of evidence.
	errInconclusive = errors.New("inconclusive")
	// errVerification means a signature or the audit chain failed to verify.
	errVerification = errors.New("verification failed")
)

// usageError wraps a message as a usage error (exit 2).
func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// exitCode maps an error returned by a command to the process exit code.
func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.Is(err, errInconclusive):
		return exitInconclusive
	case errors.Is(err, errVerification):
		return exitVerification
	default:
		return exitFindings
	}
}
