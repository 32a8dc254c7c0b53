package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/fleet"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/names"
)

type retryOptions struct {
	namedRunOptions
	failed, skipped bool
	newName         string
}

func newRetryCommand(s Streams) *cobra.Command {
	o := &retryOptions{namedRunOptions: namedRunOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:   "retry RUN [--failed] [--skipped] [--name NEW_RUN]",
		Short: "Start a new run over the clusters a run left undone, at its frozen target",
		Long: `Start a new run over the clusters RUN left undone — failed, skipped (on request
or unreachable at their turn), or never started — from RUN's frozen fleet, at
RUN's frozen target: the exact version its control planes moved to and the
node image it chose, whatever is newer now. The strategy keeps RUN's stages
and groups that still hold a cluster, with their gates and approvals. The
new run (RUN-retry-N unless --name) is linked to RUN: status and history
show it, and its spec.clusters names the clusters it holds. On a hub (--context) the
new run is applied to the hub, which plans it over those Cluster objects
of its namespace and drives it, and the command follows it.

Exit codes as run: 0 completed; 1 failed; 2 bad input (nothing changed); 10 stopped.`,
		Example: `  upshift retry fleet-to-1-37 --skipped
  upshift retry fleet-to-1-37 --failed --name fleet-to-1-37-again
  upshift retry fleet-to-1-37 --context hub-admin   # the hub plans and drives it`,
		Args:              exactArgs(1, "RUN"),
		ValidArgsFunction: o.completeRuns,
		RunE:              runE(o),
	}
	o.addHome(cmd)
	o.addHub(cmd)
	o.addReportOutput(cmd)
	o.addMetrics(cmd)
	cmd.Flags().BoolVar(&o.failed, "failed", false, "retry the clusters that failed")
	cmd.Flags().BoolVar(&o.skipped, "skipped", false, "retry the clusters that were skipped")
	cmd.Flags().StringVar(&o.newName, "name", "", "the new run's name (default RUN-retry-N)")
	return cmd
}

func (o *retryOptions) Validate() error {
	if err := o.namedRunOptions.Validate(); err != nil {
		return err
	}
	if o.newName != "" {
		return names.Subdomain("run", o.newName)
	}
	return nil
}

func (o *retryOptions) Run(ctx context.Context) error {
	if err := o.openHub(ctx); err != nil {
		return err
	}
	old, err := o.store().Get(o.name)
	if err != nil {
		return usageError{Err: err}
	}
	data, err := o.store().Fleet(o.name)
	if err != nil {
		return fmt.Errorf("run %s has no frozen fleet: %w", o.name, err)
	}
	clusters, err := fleet.Parse(o.name+"/fleet.yaml", data)
	if err != nil {
		return err
	}
	name := o.newName
	if name == "" {
		for i := 1; ; i++ {
			name = fmt.Sprintf("%s-retry-%d", o.name, i)
			if _, err := o.store().Get(name); err != nil {
				break
			}
		}
	}
	run, strategy, members, err := engine.Retry(old, clusters, name, o.failed, o.skipped)
	if err != nil {
		return usageError{Err: err}
	}
	if o.onHub() {
		// The old run's requests are not the new one's.
		delete(run.Annotations, hubstore.AnnotationSkips)
		delete(run.Annotations, hubstore.AnnotationResume)
		o.printer.Action("run %s retries %d cluster(s) of run %s at its target: %s", name, len(members), o.name, strings.Join(run.Spec.Clusters, ", "))
		return o.submit(ctx, run, strategy)
	}
	e := o.engine(members)
	p, err := o.initialize(ctx, e, run, strategy)
	if err != nil {
		return err
	}
	o.printer.Action("run %s retries %d cluster(s) of run %s at its target", name, len(members), o.name)
	printPlan(o.humanOut(), viewOf(p, nil))
	return o.drive(ctx, e, name)
}
