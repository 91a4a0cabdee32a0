// Command patchbay manages a fleet's patch state the GitOps way: the desired
// state lives as CUE in a Git repository, hosts report what they have, and
// patchbay plans, gates, rolls out and audits the difference.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/patchbay/patchbay/engine/sandbox"
)

func main() {
	os.Exit(realMain())
}

// realMain is main without the exit: a sandbox child serves its job;
// otherwise the command line runs until done or until SIGINT or SIGTERM
// cancel its context (which kills a sandboxed evaluation at once).
func realMain() int {
	if sandbox.IsChild(os.Args) {
		return childMain()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}
