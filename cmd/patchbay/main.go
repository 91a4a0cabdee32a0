// Command patchbay manages a fleet's patch state the GitOps way: the desired
// state lives as CUE in a Git repository, hosts report what they have, and
// patchbay plans, gates, rolls out and audits the difference.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
