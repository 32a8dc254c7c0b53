package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/clusterstatus"
	"upshift.dev/upshift/internal/fleet"
	"upshift.dev/upshift/internal/printer"
)

type fleetOptions struct {
	runOptions
	output   string
	clusters []v1alpha1.Cluster
}

func newFleetCommand(s Streams) *cobra.Command {
	o := &fleetOptions{runOptions: runOptions{streams: s}}
	cmd := &cobra.Command{
		Use:   "fleet --fleet FLEET_FILE [-o table|json|yaml]",
		Short: "Show a fleet file's clusters as they are now: versions, node pools, reachability",
		Args:  exactArgs(0, ""),
		RunE:  runE(o),
	}
	o.addHome(cmd)
	cmd.Flags().StringVar(&o.fleetFile, "fleet", "", "fleet file of upshift.dev/v1alpha1 Cluster objects (required)")
	cmd.Flags().StringVarP(&o.output, "output", "o", outputTable, "table, json or yaml")
	return cmd
}

func (o *fleetOptions) Complete(*cobra.Command, []string) error { return nil }

func (o *fleetOptions) Validate() error {
	if err := validateOutput(o.output, outputTable, outputJSON, outputYAML); err != nil {
		return err
	}
	if o.fleetFile == "" {
		return usagef("--fleet FLEET_FILE is required")
	}
	data, err := os.ReadFile(o.fleetFile)
	if err != nil {
		return usageError{Err: err}
	}
	if o.clusters, err = fleet.Parse(o.fleetFile, data); err != nil {
		return usageError{Err: err}
	}
	return nil
}

func (o *fleetOptions) Run(ctx context.Context) error {
	resolve := o.engine(o.clusters).Resolve
	for i := range o.clusters {
		clusterstatus.Observe(ctx, resolve, &o.clusters[i])
	}
	if o.output != outputTable {
		return writeData(o.streams.Out, o.output, o.clusters)
	}
	var rows [][]string
	for _, c := range o.clusters {
		// What the provider cannot tell (a kubeconfig cluster's node
		// image, anything of a cluster that does not answer) is shown as
		// unknown, never left blank.
		var pools []string
		for _, p := range c.Status.NodePools {
			pools = append(pools, fmt.Sprintf("%s=%d (%s, image %s)", p.Name, p.Count, orUnknown(p.KubernetesVersion), orUnknown(p.NodeImage)))
		}
		if len(pools) == 0 {
			pools = []string{"unknown"}
		}
		reach := "yes"
		if cond := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionReachable); cond == nil || cond.Status != metav1.ConditionTrue {
			reach = "no"
			if cond != nil {
				reach += ": " + cond.Message
			}
		}
		rows = append(rows, []string{c.Name, c.Spec.Group, c.Spec.Provider, orUnknown(c.Status.KubernetesVersion), strings.Join(pools, " "), reach})
	}
	return printer.Table(o.streams.Out, []string{"NAME", "GROUP", "PROVIDER", "VERSION", "NODE POOLS", "REACHABLE"}, rows)
}

// orUnknown is s, or "unknown" where nothing could tell it.
func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
