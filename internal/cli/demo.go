package cli

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/compliance"
	"upshift.dev/upshift/internal/demo"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/patch"
	"upshift.dev/upshift/internal/printer"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/toolchain"
)

type demoOptions struct {
	runOptions
	cache string
	down  bool
}

func newDemoCommand(s Streams) *cobra.Command {
	o := &demoOptions{runOptions: runOptions{streams: s}}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Upgrade a local dev/test/prod fleet under live traffic, end to end",
		Long: `The demo: three local clusters (dev, test, prod) on Kubernetes ` + toolchain.Oldest().Minor + `, each
running a sample app behind its ingress with a PodDisruptionBudget; an update
run to ` + toolchain.Latest().Minor + ` (two hops: the control plane moves one minor at a time)
driven by an Azure Fleet stages file, with soaks and an
approval before production that the demo grants; requests and ready pods are
sampled throughout, and the report says how long each stage took and whether
availability ever dropped below a budget. Then a node image fixing a critical
CVE is published and the fleet patched with it (upshift patch), production
inside its maintenance window, with the compliance report before and after;
then a cluster moves blue-green, and a canary is rolled back and promoted.`,
		Args: exactArgs(0, ""),
		RunE: runE(o),
	}
	o.addHome(cmd)
	cmd.Flags().StringVar(&o.cache, "cache", toolchain.DefaultCacheDir(), "cache folder of built binaries ($UPSHIFT_CACHE)")
	cmd.Flags().BoolVar(&o.down, "down", false, "tear the demo down instead: remove every local cluster it makes (make demo-down)")
	return cmd
}

func (o *demoOptions) Complete(*cobra.Command, []string) error {
	o.printer = printer.New(o.streams.Err)
	return nil
}

func (o *demoOptions) Validate() error { return nil }

// Run plays the whole demo (internal/demo), through the commands' own
// code, or tears it down.
func (o *demoOptions) Run(ctx context.Context) error {
	if o.down {
		return demo.TearDown(o.home, o.printer)
	}
	self, err := selfCommand()
	if err != nil {
		return err
	}
	return demo.Run(ctx, &demo.Demo{CLI: demoCLI{&o.runOptions}, Home: o.home, Cache: o.cache, Out: o.streams.Out, Printer: o.printer, Self: self})
}

// demoCLI is the commands, as the demo asks for them (demo.CLI).
type demoCLI struct{ o *runOptions }

func (c demoCLI) Load(runFile, fleetFile, stages string) (*v1alpha1.UpdateRun, *v1alpha1.UpdateStrategySpec, []v1alpha1.Cluster, error) {
	c.o.runFile, c.o.fleetFile, c.o.stages = runFile, fleetFile, stages
	return c.o.load()
}

func (c demoCLI) Engine(clusters []v1alpha1.Cluster) *engine.Engine { return c.o.engine(clusters) }

func (c demoCLI) Initialize(ctx context.Context, e *engine.Engine, run *v1alpha1.UpdateRun, strategy *v1alpha1.UpdateStrategySpec, fleetFile string) error {
	c.o.fleetFile = fleetFile
	_, err := c.o.initialize(ctx, e, run, strategy)
	return err
}

func (c demoCLI) Progress(ev engine.Event) { c.o.progress(ev) }

func (c demoCLI) Approve(run string, a store.Approval) error { return c.o.store().Approve(run, a) }

func (c demoCLI) WriteRunReport(w io.Writer, run *v1alpha1.UpdateRun) { writeRunReport(w, run) }

func (c demoCLI) WriteCanary(w io.Writer, s *v1alpha1.CanaryStatus) { writeCanary(w, s) }

func (c demoCLI) PublishImage(ctx context.Context, img nodeimages.Image) error {
	_, err := publishImage(ctx, c.o.home, img)
	return err
}

func (c demoCLI) Compliance(ctx context.Context, fleetFile string) (compliance.Report, error) {
	c.o.fleetFile = fleetFile
	return c.o.compliance(ctx)
}

func (c demoCLI) Patch(ctx context.Context, fleetFile, strategyFile string, req patch.Request) error {
	c.o.fleetFile = fleetFile
	return c.o.emergencyPatch(ctx, req, strategyFile, "", false)
}
