package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/store"
)

type statusOptions struct {
	namedRunOptions
	output  string
	watch   bool
	timeout time.Duration
}

func newStatusCommand(s Streams) *cobra.Command {
	o := &statusOptions{namedRunOptions: namedRunOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:   "status RUN [-o table|json|yaml] [--watch [--timeout D]]",
		Short: "Show a run's status tree: stages, clusters, steps, with times",
		Long: `Show a run's status tree: stages, clusters, steps, with times.

With --watch, follow the run until it ends, printing what changes, then its
report, and exit as run does, so a pipeline can wait on a run another
process or a hub drives: 0 completed, 1 failed, 10 stopped or cancelled (or
its driver is gone), 11 rolled back, 3 when --timeout ran out first (the run
goes on).`,
		Example: `  upshift status fleet-to-1-37
  upshift status fleet-to-1-37 --watch --timeout 2h --context hub`,
		Args:              exactArgs(1, "RUN"),
		ValidArgsFunction: o.completeRuns,
		RunE:              runE(o),
	}
	o.addHome(cmd)
	o.addHub(cmd)
	cmd.Flags().StringVarP(&o.output, "output", "o", outputTable, "table, json or yaml")
	cmd.Flags().BoolVarP(&o.watch, "watch", "w", false, "follow the run until it ends, and exit as run does")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 0, "with --watch: give up after this long (exit 3; the run goes on); 0 waits as long as it takes")
	return cmd
}

func (o *statusOptions) Validate() error {
	if err := o.namedRunOptions.Validate(); err != nil {
		return err
	}
	if o.timeout != 0 && !o.watch {
		return usagef("--timeout goes with --watch")
	}
	if o.watch && o.output != outputTable {
		return usagef("--watch prints progress and a report: leave -o out, and read the object after it (upshift status %s -o %s)", o.name, o.output)
	}
	return validateOutput(o.output, outputTable, outputJSON, outputYAML)
}

func (o *statusOptions) Run(ctx context.Context) error {
	if err := o.openHub(ctx); err != nil {
		return err
	}
	if o.watch {
		if _, err := o.store().Get(o.name); err != nil {
			return usageError{Err: err}
		}
		if o.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, o.timeout)
			defer cancel()
		}
		return o.follow(ctx, o.name)
	}
	run, err := o.store().Get(o.name)
	var corrupt *store.CorruptError
	switch {
	case errors.As(err, &corrupt) && run != nil:
		// Show what could be read, and say which file is bad.
		_ = o.write(run)
		return err
	case err != nil:
		return usageError{Err: err}
	}
	return o.write(run)
}

func (o *statusOptions) write(run *v1alpha1.UpdateRun) error {
	if o.output != outputTable {
		return writeData(o.streams.Out, o.output, run)
	}
	writeRunReport(o.streams.Out, run)
	if orphaned(o.store(), run) {
		fmt.Fprintf(o.streams.Out, "  no process drives this run: it stopped where its driver was killed; `upshift resume %s` goes on from there\n", run.Name)
	}
	return nil
}

// driverProbe is a store that can tell whether a run has a live driver
// (the file store, through the driver's lock). The hub's store cannot
// without taking the lease, and its controller drives every run anyway.
type driverProbe interface {
	Driven(name string) (bool, error)
}

// orphaned is a run whose status says it is under way while no process
// drives it: the process was killed.
func orphaned(runs store.Runs, run *v1alpha1.UpdateRun) bool {
	probe, ok := runs.(driverProbe)
	if !ok || !underWay(run) {
		return false
	}
	driven, err := probe.Driven(run.Name)
	return err == nil && !driven
}

// settled is a run that ended or was stopped: no driver is expected.
func settled(run *v1alpha1.UpdateRun) bool {
	return run.Status.Ended() || run.Status.Phase == v1alpha1.PhaseStopped
}

// underWay is a run that started and has not settled: a driver is
// expected, and what it did is only partly done.
func underWay(run *v1alpha1.UpdateRun) bool {
	phase := run.Status.Phase
	return phase != "" && phase != v1alpha1.PhaseNotStarted && !settled(run)
}

// writeRunReport renders the status tree with durations.
func writeRunReport(w io.Writer, run *v1alpha1.UpdateRun) {
	st := run.Status
	fmt.Fprintf(w, "run %s: %s%s\n", run.Name, st.Phase, span(st.Start, st.End))
	if of := run.Annotations[v1alpha1.AnnotationRetryOf]; of != "" {
		fmt.Fprintf(w, "  retries run %s: the clusters it left undone, at its target\n", of)
	}
	if st.Message != "" {
		fmt.Fprintf(w, "  %s\n", st.Message)
	}
	for _, s := range st.Stages {
		fmt.Fprintf(w, "  stage %s: %s%s%s\n", s.Name, s.Phase, span(s.Start, s.End), msg(s.Message))
		for _, t := range s.BeforeTasks {
			fmt.Fprintf(w, "    before %s: %s%s%s\n", t.Name, t.Phase, taskSpan(t), msg(t.Message))
		}
		for _, c := range s.Clusters {
			fmt.Fprintf(w, "    cluster %s (group %s, from %s): %s%s%s\n", c.Name, c.Group, c.FromVersion, c.Phase, span(c.Start, c.End), msg(c.Message))
			for _, step := range c.Steps {
				fmt.Fprintf(w, "      %s: %s%s%s\n", step.Name, step.Phase, span(step.Start, step.End), msg(step.Message))
			}
			if c.BlueGreen != nil {
				writeBlueGreen(w, c.BlueGreen)
			}
			if c.Canary != nil {
				writeCanary(w, c.Canary)
			}
		}
		for _, t := range s.AfterTasks {
			fmt.Fprintf(w, "    after %s: %s%s%s\n", t.Name, t.Phase, taskSpan(t), msg(t.Message))
		}
	}
	if run.Spec.Patch != nil {
		writePatch(w, run)
	}
}

// span renders how long something took, or since when it runs.
func span(start, end *metav1.Time) string {
	switch {
	case start == nil:
		return ""
	case end == nil:
		return " (since " + start.UTC().Format("15:04:05") + ")"
	}
	return " (" + end.Sub(start.Time).Round(time.Second).String() + ")"
}

// taskSpan is who approved an approval task and when, or how long any
// other task took (or since when it runs).
func taskSpan(t v1alpha1.TaskStatus) string {
	if t.Type == v1alpha1.TaskApproval {
		return approved(t)
	}
	return span(t.Start, t.End)
}

func msg(m string) string {
	if m == "" {
		return ""
	}
	return " — " + m
}

func approved(t v1alpha1.TaskStatus) string {
	if t.ApprovedBy == "" {
		return ""
	}
	return fmt.Sprintf(" (approved by %s at %s)", t.ApprovedBy, t.ApprovedAt.UTC().Format(time.RFC3339))
}
