package cli

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/store"
)

type cancelOptions struct {
	namedRunOptions
	reason string
}

func newCancelCommand(s Streams) *cobra.Command {
	o := &cancelOptions{namedRunOptions: namedRunOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:   "cancel RUN [--reason TEXT]",
		Short: "End a run for good: steps under way finish, nothing new starts, and it cannot be resumed",
		Long: `End a run for good. The steps under way finish (a node being drained is not
left half done), nothing new starts, and the run ends Cancelled. Unlike
stop, a cancelled run cannot be resumed, and it no longer holds its
AutoUpgradeProfile: the schedule goes on with the profile's later targets.
Its clusters stay as they are; a blue-green run can still be rolled back
(upshift rollback RUN). The request is in the run's audit trail, with
--reason.

A run that is not driven ends at once. One driven by another process ends
when that process has finished the steps under way; on a hub (--context), this
command waits for that and prints the report.

Exit codes: 0 cancelled (or will be, by its driver); 2 bad input, a run
that completed or was cancelled already (nothing changed).`,
		Example:           `  upshift cancel fleet-to-1-37 --reason "wrong gate; fixed in fleet-to-1-37-b"`,
		Args:              exactArgs(1, "RUN"),
		ValidArgsFunction: o.completeRuns,
		RunE:              runE(o),
	}
	o.addHome(cmd)
	o.addHub(cmd)
	o.addReportOutput(cmd)
	cmd.Flags().StringVar(&o.reason, "reason", "", "why the run is cancelled, for its audit trail")
	return cmd
}

func (o *cancelOptions) Run(ctx context.Context) error {
	if err := o.openHub(ctx); err != nil {
		return err
	}
	runs := o.store()
	run, err := runs.Get(o.name)
	if err != nil && run == nil {
		return usageError{Err: err}
	}
	switch run.Status.Phase {
	case v1alpha1.PhaseCompleted, v1alpha1.PhaseCancelled:
		return usagef("run %s has ended (%s): there is nothing to cancel; `upshift delete %s` removes it", o.name, run.Status.Phase, o.name)
	}
	if err := runs.SetState(o.name, v1alpha1.StateCancel); err != nil {
		return usageError{Err: err}
	}
	msg := "cancel requested by " + currentUser()
	if o.reason != "" {
		msg += ": " + o.reason
	}
	if err := o.audit(o.name, store.Event{Time: time.Now().UTC(), Type: store.EventCancelRequested, Message: msg}); err != nil {
		o.printer.Waiting("the cancel is recorded, but not its audit line: %v", err)
	}
	if o.onHub() {
		// The hub's controller ends it; the report is the run's as it
		// stands, and a run that ended Cancelled is what was asked.
		err := o.follow(ctx, o.name)
		if run, getErr := runs.Get(o.name); getErr == nil && run.Status.Phase == v1alpha1.PhaseCancelled {
			return nil
		}
		return err
	}
	driven := func() error {
		o.printer.Success("run %s ends Cancelled once its driver has finished the steps under way", o.name)
		return nil
	}
	if probe, ok := runs.(driverProbe); ok {
		if yes, err := probe.Driven(o.name); err == nil && yes {
			return driven()
		}
	}
	// Not driven: this process takes the run and ends it as it stands.
	e, err := o.frozen(o.name)
	if err != nil {
		return err
	}
	_, err = e.Drive(ctx, o.name)
	switch {
	case errors.Is(err, store.ErrLocked):
		return driven()
	case !errors.Is(err, engine.ErrCancelled):
		return err
	}
	o.printer.Success("run %s cancelled: nothing more will be done; its clusters stay as they are", o.name)
	return nil
}
