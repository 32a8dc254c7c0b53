package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/store"
)

type deleteOptions struct {
	namedRunOptions
	force bool
}

func newDeleteCommand(s Streams) *cobra.Command {
	o := &deleteOptions{namedRunOptions: namedRunOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:   "delete RUN [--force]",
		Short: "Remove a finished run and its records, so that its name can be used again",
		Long: `Remove a run kept in the home's state folder: its spec, status, frozen fleet,
audit trail and approvals. A run that ended (Completed, Failed, RolledBack) or
was stopped can be deleted; one a process drives is refused (stop it first),
and one that did not end (its driver was killed mid-step) needs --force: its
clusters stay as they are, and nothing will resume it. A wrong run can then be
fixed and started again under the same name.

On a hub (--context), the UpdateRun is deleted, and with it what it owns (its
frozen fleet and audit ConfigMaps, approval requests, driver lease); a run
that did not end is driven by the hub: stop or cancel it first, or give
--force. A hub also deletes ended runs by itself past its --keep-runs or a
run's spec.ttlSecondsAfterFinished.

Exit codes: 0 deleted; 2 bad input, a run that is driven or did not end
(nothing deleted).`,
		Example: `  upshift delete fleet-to-1-37
  upshift delete fleet-to-1-37 --force   # a run killed mid-step that will not be resumed
  upshift delete fleet-to-1-37 --context hub # an UpdateRun on a hub`,
		Args:              exactArgs(1, "RUN"),
		ValidArgsFunction: o.completeRuns,
		RunE:              runE(o),
	}
	o.addHome(cmd)
	o.addHub(cmd)
	cmd.Flags().BoolVar(&o.force, "force", false, "delete a run that did not end (its driver was killed); its clusters stay as they are")
	return cmd
}

func (o *deleteOptions) Run(ctx context.Context) error {
	if err := o.openHub(ctx); err != nil {
		return err
	}
	runs, ok := o.store().(interface {
		store.Runs
		Delete(name string) error
	})
	if !ok {
		return fmt.Errorf("this store cannot delete runs")
	}
	run, err := runs.Get(o.name)
	if err != nil && run == nil {
		return usageError{Err: err}
	}
	if probe, ok := runs.(driverProbe); ok {
		if driven, err := probe.Driven(o.name); err == nil && driven {
			return usagef("run %s is being driven: stop it first (upshift stop %s), then delete it", o.name, o.name)
		}
	}
	if underWay(run) && !o.force {
		if o.onHub() {
			return usagef("run %s did not end (%s) and hub %s drives it: stop or cancel it (upshift cancel %s%s), or delete it with --force; its clusters stay as they are", o.name, run.Status.Phase, o.hubName(), o.name, o.hubFlag())
		}
		return usagef("run %s did not end (%s): resume it (upshift resume %s), or delete it with --force; its clusters stay as they are", o.name, run.Status.Phase, o.name)
	}
	if err := runs.Delete(o.name); err != nil {
		if errors.Is(err, store.ErrLocked) {
			return usagef("run %s is being driven: stop it first (upshift stop %s), then delete it", o.name, o.name)
		}
		return fmt.Errorf("deleting run %s: %w", o.name, err)
	}
	o.printer.Success("run %s deleted (was %s); its name is free", o.name, phaseOrNew(run.Status.Phase))
	return nil
}

func phaseOrNew(phase string) string {
	if phase == "" || phase == v1alpha1.PhaseNotStarted {
		return "never started"
	}
	return phase
}
