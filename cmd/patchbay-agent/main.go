// Command patchbay-agent runs on each host: it enrolls with a patchbay
// server, reports the host's package database, applies what it is
// assigned and reports the outcome. See run.go for the commands and exit
// codes.
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
