package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/store"
)

type stopOptions struct {
	namedRunOptions
	abortCloud bool
}

func newStopCommand(s Streams) *cobra.Command {
	o := &stopOptions{namedRunOptions: namedRunOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:   "stop RUN",
		Short: "Stop a run: steps under way finish safely, nothing new starts",
		Long: `Stop a run: steps under way finish safely, nothing new starts; resume it later.

With --abort-cloud-operation, the cloud operations of the steps under way
are aborted too (AKS: the abort of the cluster's or the pool's latest
operation), from where this command runs and with its cloud credentials.
The cluster is then left as the abort leaves it (AKS: Canceled); its step
is Stopped, not Failed, and each abort is in the run's audit log. A
provider that runs no such operation (local, exec, kubeconfig) lets its
step finish.`,
		Args:              exactArgs(1, "RUN"),
		ValidArgsFunction: o.completeRuns,
		RunE:              runE(o),
	}
	o.addHome(cmd)
	o.addHub(cmd)
	cmd.Flags().BoolVar(&o.abortCloud, "abort-cloud-operation", false, "also abort the cloud operations of the steps under way (AKS), leaving those clusters as the abort leaves them")
	return cmd
}

func (o *stopOptions) Run(ctx context.Context) error {
	if err := o.openHub(ctx); err != nil {
		return err
	}
	if err := o.store().SetState(o.name, v1alpha1.StateStop); err != nil {
		return usageError{Err: err}
	}
	if err := o.audit(o.name, store.Event{Time: time.Now().UTC(), Type: store.EventStopRequested, Message: "stop requested by " + currentUser()}); err != nil {
		o.printer.Waiting("the stop is recorded, but not its audit line: %v", err)
	}
	if o.abortCloud {
		return o.abort(ctx)
	}
	o.printer.Success("run %s will stop after the steps under way; resume it with `upshift resume %s%s`", o.name, o.name, o.hubFlag())
	return nil
}

// abort aborts the cloud operations of the steps under way, auditing
// each.
func (o *stopOptions) abort(ctx context.Context) error {
	e, err := o.frozen(o.name)
	if err != nil {
		return err
	}
	results, err := e.AbortCloudOperations(ctx, o.name)
	if err != nil {
		return err
	}
	failed := false
	for _, a := range results {
		switch {
		case a.Err != nil:
			failed = true
			o.printer.Failure("%s: the cloud operation was not aborted: %v", a.Cluster, a.Err)
		case a.What != "":
			if err := o.audit(o.name, store.Event{Time: time.Now().UTC(), Type: store.EventCloudOperationAborted, Message: fmt.Sprintf("%s: %s, requested by %s", a.Cluster, a.What, currentUser())}); err != nil {
				o.printer.Waiting("the abort is done, but not its audit line: %v", err)
			}
			o.printer.Success("%s: %s", a.Cluster, a.What)
		default:
			o.printer.Waiting("%s: %s", a.Cluster, a.Why)
		}
	}
	if len(results) == 0 {
		o.printer.Waiting("no step of run %s is under way: nothing to abort", o.name)
	}
	o.printer.Success("run %s stops; resume it with `upshift resume %s%s`", o.name, o.name, o.hubFlag())
	if failed {
		return exitCode(ExitFailed)
	}
	return nil
}
