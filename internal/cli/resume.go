package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/store"
)

type resumeOptions struct {
	namedRunOptions
	overrideWindows bool
	reason          string
}

func newResumeCommand(s Streams) *cobra.Command {
	o := &resumeOptions{namedRunOptions: namedRunOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:   "resume RUN [--override-maintenance-windows --reason TEXT]",
		Short: "Drive a stopped, failed, initialized or interrupted run on from where it is",
		Long: `Drive a run on from where it is: what completed is not redone, what failed
is tried again. The run keeps the spec and fleet it started with; a run whose
spec was wrong is cancelled (upshift cancel) or deleted (upshift delete) and
started anew.

An emergency patch (upshift patch) held by a closed maintenance window can be
given the override here, as patch's own flag does: --override-maintenance-windows
needs --reason, and the audit trail records who and why. A driver already
waiting for the window takes the override at its next look.`,
		Example: `  upshift resume fleet-to-1-37
  upshift resume patch-aks-ubuntu-2204-202612 --override-maintenance-windows --reason "CVE-2026-4242 exploited"`,
		Args:              exactArgs(1, "RUN"),
		ValidArgsFunction: o.completeRuns,
		RunE:              runE(o),
	}
	o.addHome(cmd)
	o.addMetrics(cmd)
	o.addHub(cmd)
	o.addReportOutput(cmd)
	cmd.Flags().BoolVar(&o.overrideWindows, "override-maintenance-windows", false, "let an emergency patch's steps start outside maintenance windows (needs --reason; recorded in the audit trail)")
	cmd.Flags().StringVar(&o.reason, "reason", "", "why the windows are overridden, for the audit trail")
	return cmd
}

func (o *resumeOptions) Validate() error {
	if err := o.namedRunOptions.Validate(); err != nil {
		return err
	}
	if o.overrideWindows && strings.TrimSpace(o.reason) == "" {
		return usagef("--override-maintenance-windows needs --reason: the audit trail records why windows were overridden")
	}
	if !o.overrideWindows && o.reason != "" {
		return usagef("--reason goes with --override-maintenance-windows")
	}
	return nil
}

func (o *resumeOptions) Run(ctx context.Context) error {
	if err := o.openHub(ctx); err != nil {
		return err
	}
	if o.overrideWindows {
		if err := o.override(); err != nil {
			return err
		}
		if probe, ok := o.store().(driverProbe); ok {
			if driven, err := probe.Driven(o.name); err == nil && driven {
				o.printer.Success("run %s is driven by another process: it takes the override at its next look", o.name)
				return nil
			}
		}
	}
	if o.onHub() {
		return o.request(ctx, o.name, v1alpha1.StateRun)
	}
	e, err := o.frozen(o.name)
	if err != nil {
		return err
	}
	if err := o.store().SetState(o.name, v1alpha1.StateRun); err != nil {
		if errors.Is(err, store.ErrCancelled) {
			return usageError{Err: err}
		}
		return err
	}
	return o.drive(ctx, e, o.name)
}

// override marks an emergency patch run to start its steps outside
// maintenance windows, and audits who asked and why.
func (o *resumeOptions) override() error {
	run, err := o.store().Get(o.name)
	if err != nil {
		return usageError{Err: err}
	}
	if run.Spec.Patch == nil {
		return usagef("run %s is not an emergency patch: only runs of `upshift patch` may override maintenance windows; wait for the window, or skip the held cluster (upshift skip %s --cluster CLUSTER)", o.name, o.name)
	}
	by := currentUser()
	run.Spec.Patch.OverrideMaintenanceWindows, run.Spec.Patch.Reason, run.Spec.Patch.RequestedBy = true, o.reason, by
	run.Status = v1alpha1.UpdateRunStatus{}
	if err := o.store().SaveSpec(run); err != nil {
		return err
	}
	if err := o.audit(o.name, store.Event{Time: time.Now().UTC(), Type: store.EventWindowsOverride, Message: fmt.Sprintf("maintenance windows overridden by %s: %s", by, o.reason)}); err != nil {
		o.printer.Waiting("the override is recorded, but not its audit line: %v", err)
	}
	o.printer.Action("maintenance windows overridden for run %s (%s)", o.name, o.reason)
	return nil
}
