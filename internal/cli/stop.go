package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/store"
)

type stopOptions struct{ namedRunOptions }

func newStopCommand(s Streams) *cobra.Command {
	o := &stopOptions{namedRunOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:               "stop RUN",
		Short:             "Stop a run: steps under way finish safely, nothing new starts",
		Args:              exactArgs(1, "RUN"),
		ValidArgsFunction: o.completeRuns,
		RunE:              runE(o),
	}
	o.addHome(cmd)
	o.addHub(cmd)
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
	o.printer.Success("run %s will stop after the steps under way; resume it with `upshift resume %s%s`", o.name, o.name, o.hubFlag())
	return nil
}
