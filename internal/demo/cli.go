package demo

import (
	"context"
	"io"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/compliance"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/patch"
	"upshift.dev/upshift/internal/printer"
	"upshift.dev/upshift/internal/store"
)

// CLI is what the demo asks of upshift's commands, each as the command
// named does it.
type CLI interface {
	// Load reads a run file, a fleet file and an Azure Fleet stages file
	// (`upshift run -f --fleet --stages`).
	Load(runFile, fleetFile, stages string) (*v1alpha1.UpdateRun, *v1alpha1.UpdateStrategySpec, []v1alpha1.Cluster, error)
	// Engine is the engine over a fleet, on the home's store.
	Engine(clusters []v1alpha1.Cluster) *engine.Engine
	// Initialize stores a run and prints its plan (`upshift run`, before
	// it drives); fleetFile is the file a blue-green or canary run
	// rewrites when green replaces blue (`--fleet`), empty for none.
	Initialize(ctx context.Context, e *engine.Engine, run *v1alpha1.UpdateRun, strategy *v1alpha1.UpdateStrategySpec, fleetFile string) error
	// Progress prints an engine's event (`upshift run`).
	Progress(ev engine.Event)
	// Approve gives an approval (`upshift approve`).
	Approve(run string, a store.Approval) error
	// WriteRunReport writes a run's final report (`upshift status`), and
	// WriteCanary a canary's weight and analysis (`upshift canary`).
	WriteRunReport(w io.Writer, run *v1alpha1.UpdateRun)
	WriteCanary(w io.Writer, c *v1alpha1.CanaryStatus)
	// PublishImage adds a node image to the local catalogue (`upshift local
	// images publish`).
	PublishImage(ctx context.Context, img nodeimages.Image) error
	// Compliance reports on a fleet file (`upshift report compliance`).
	Compliance(ctx context.Context, fleetFile string) (compliance.Report, error)
	// Patch drives an emergency patch of a fleet file (`upshift patch`).
	Patch(ctx context.Context, fleetFile, strategyFile string, req patch.Request) error
}

// Demo is one play of the demo.
type Demo struct {
	CLI CLI
	// Home and Cache are the local fleet's state and built binaries.
	Home, Cache string
	// Out gets the reports; Printer the lines for people.
	Out     io.Writer
	Printer *printer.Printer
	// Self runs this binary as a local cluster's daemon.
	Self []string
}
