// Command upshift upgrades Kubernetes clusters and fleets without downtime.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"upshift.dev/upshift/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first Ctrl-C asks for a clean stop; after it the handler is
	// gone, so a second one ends the process at once.
	go func() { <-ctx.Done(); stop() }()
	code := cli.Main(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
