// Command upshift-scan is upshift's upgrade-readiness scan alone: removed
// APIs and drain blockers, for CI pipelines. It links none of upshift's
// providers or controllers, so it is a fraction of upshift's size and
// memory.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"upshift.dev/upshift/internal/cmdkit"
	"upshift.dev/upshift/internal/gctune"
	"upshift.dev/upshift/internal/scancli"
)

func main() {
	// A scan's live heap is a few MiB: collect on a 16 MiB limit rather
	// than every 4 MiB (3 collections for 10,000 documents, 5 without
	// it). Since the skim allocates little, a lower limit keeps the peak
	// lower (Helm's template engine, linked to render charts, makes the
	// binary itself resident for about 30 MiB).
	gctune.SmallHeap(16 << 20)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := scancli.Main(ctx, os.Args[1:], cmdkit.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
