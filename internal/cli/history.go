package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/printer"
)

type historyOptions struct {
	runOptions
	output string
}

func newHistoryCommand(s Streams) *cobra.Command {
	o := &historyOptions{runOptions: runOptions{streams: s}}
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List update runs: phase, target, start, duration",
		Args:  exactArgs(0, ""),
		RunE:  runE(o),
	}
	o.addHome(cmd)
	o.addHub(cmd)
	cmd.Flags().StringVarP(&o.output, "output", "o", outputTable, "table, json or yaml")
	return cmd
}

func (o *historyOptions) Complete(*cobra.Command, []string) error { return nil }

func (o *historyOptions) Validate() error {
	return validateOutput(o.output, outputTable, outputJSON, outputYAML)
}

func (o *historyOptions) Run(ctx context.Context) error {
	if err := o.openHub(ctx); err != nil {
		return err
	}
	runs := o.store()
	list, err := runs.List()
	if err != nil {
		return err
	}
	if o.output != outputTable {
		if list == nil {
			list = []*v1alpha1.UpdateRun{}
		}
		return writeData(o.streams.Out, o.output, list)
	}
	var rows [][]string
	for _, r := range list {
		target := r.Spec.Upgrade.Type
		if r.Spec.Upgrade.KubernetesVersion != "" {
			target += " " + r.Spec.Upgrade.KubernetesVersion
		}
		started := "-"
		if r.Status.Start != nil {
			started = r.Status.Start.UTC().Format(time.RFC3339)
		}
		phase, took := r.Status.Phase, strings.TrimPrefix(span(r.Status.Start, r.Status.End), " ")
		switch {
		case orphaned(runs, r):
			phase += " (no driver: resume it)"
		case settled(r) && r.Status.End == nil:
			took = "-" // it ended; when is not known
		}
		retryOf := r.Annotations[v1alpha1.AnnotationRetryOf]
		if retryOf == "" {
			retryOf = "-"
		}
		rows = append(rows, []string{r.Name, phase, target, fmt.Sprint(len(r.Status.Clusters)), started, took, retryOf})
	}
	return printer.Table(o.streams.Out, []string{"NAME", "PHASE", "TARGET", "CLUSTERS", "STARTED", "DURATION", "RETRY OF"}, rows)
}
