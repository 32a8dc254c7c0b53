package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/names"
	"upshift.dev/upshift/internal/nodepool"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/cluster/local"
	"upshift.dev/upshift/internal/toolchain"
)

// The commands here show the local fleet as a cluster provider sees it, in
// the exec provider's wire format, so that a script can drive the local
// fleet through provider exec (docs/providers/exec.md, and the example in
// examples/exec-provider).

type localGetOptions struct {
	namedLocalOptions
	output string
}

func newLocalGetCommand(parent *localOptions) *cobra.Command {
	o := &localGetOptions{namedLocalOptions: namedLocalOptions{localOptions: parent}}
	cmd := &cobra.Command{
		Use:   "get NAME [-o json|yaml]",
		Short: "Print a local cluster as a provider sees it: version, node pools, kubeconfig (the exec provider's get answer)",
		Args:  exactArgs(1, "NAME"),
		RunE:  runE(o),
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", outputYAML, "json or yaml")
	return cmd
}

func (o *localGetOptions) Validate() error {
	if err := o.namedLocalOptions.Validate(); err != nil {
		return err
	}
	return validateOutput(o.output, outputJSON, outputYAML)
}

func (o *localGetOptions) Run(ctx context.Context) error {
	p, err := o.provider()
	if err != nil {
		return err
	}
	got, err := p.Get(ctx, o.name)
	if err != nil {
		return notFoundUsage(err)
	}
	return writeData(o.streams.Out, o.output, got)
}

type localVersionsOptions struct {
	*localOptions
	output string
}

func newLocalVersionsCommand(parent *localOptions) *cobra.Command {
	o := &localVersionsOptions{localOptions: parent}
	cmd := &cobra.Command{
		Use:   "versions [-o json|yaml]",
		Short: "List the Kubernetes versions local clusters can run, oldest first (the exec provider's versions answer)",
		Args:  exactArgs(0, ""),
		RunE:  runE(o),
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", outputTable, "table, json or yaml")
	return cmd
}

func (o *localVersionsOptions) Complete(*cobra.Command, []string) error { return nil }

func (o *localVersionsOptions) Validate() error {
	return validateOutput(o.output, outputTable, outputJSON, outputYAML)
}

func (o *localVersionsOptions) Run(context.Context) error {
	var list []string
	for _, v := range toolchain.Versions(toolchain.Releases) {
		list = append(list, v.String())
	}
	if o.output == outputTable {
		for _, v := range list {
			fmt.Fprintln(o.streams.Out, v)
		}
		return nil
	}
	return writeData(o.streams.Out, o.output, struct {
		Versions []string `json:"versions"`
	}{list})
}

type localUpgradePoolOptions struct {
	namedLocalOptions
	pool                       string
	up                         cluster.NodePoolUpgrade
	surge, output, undrainable string
}

func newLocalUpgradePoolCommand(parent *localOptions) *cobra.Command {
	o := &localUpgradePoolOptions{namedLocalOptions: namedLocalOptions{localOptions: parent}}
	cmd := &cobra.Command{
		Use:   "upgrade-node-pool NAME POOL [--kubernetes-version V] [--node-image IMAGE]",
		Short: "Replace a local cluster's node pool with nodes at a version or image: surge nodes, PDB-respecting drains",
		Example: `  upshift local upgrade-node-pool prod user --kubernetes-version 1.37 --max-surge 33%
  upshift local upgrade-node-pool prod user --node-image ubuntu-2204-2025.03 -o json`,
		Args: exactArgs(2, "NAME POOL"),
		RunE: runE(o),
	}
	cmd.Flags().StringVar(&o.up.KubernetesVersion, "kubernetes-version", "", "kubelet version of the new nodes (default: the pool's): "+releaseList())
	cmd.Flags().StringVar(&o.up.NodeImage, "node-image", "", "node image of the new nodes (default: the pool's)")
	cmd.Flags().StringVar(&o.surge, "max-surge", "", "extra nodes at a time, a count or a percentage of the pool (default 1)")
	cmd.Flags().DurationVar(&o.up.DrainTimeout, "drain-timeout", 0, "how long a node's drain may wait on PodDisruptionBudgets (default 30m)")
	cmd.Flags().DurationVar(&o.up.Soak, "node-soak", 0, "wait after each old node is deleted before its slot takes the next one (AKS's node soak)")
	cmd.Flags().StringVar(&o.undrainable, "undrainable", "", "a node whose drain times out: Schedule (fail, the default) or Cordon (leave it cordoned and go on)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "print the result as json or yaml")
	return cmd
}

func (o *localUpgradePoolOptions) Complete(cmd *cobra.Command, args []string) error {
	o.pool = args[1]
	return o.namedLocalOptions.Complete(cmd, args)
}

func (o *localUpgradePoolOptions) Validate() error {
	if err := o.namedLocalOptions.Validate(); err != nil {
		return err
	}
	if err := names.Label("node pool", o.pool); err != nil {
		return err
	}
	if o.output != "" {
		if err := validateOutput(o.output, outputJSON, outputYAML); err != nil {
			return err
		}
	}
	if o.surge != "" {
		o.up.MaxSurge = intstr.Parse(o.surge)
		if _, err := intstr.GetScaledValueFromIntOrPercent(&o.up.MaxSurge, 100, true); err != nil || (o.up.MaxSurge.Type == intstr.Int && o.up.MaxSurge.IntVal < 1) {
			return usagef("--max-surge %q: give a node count (3) or a percentage of the pool (33%%)", o.surge)
		}
	}
	switch o.undrainable {
	case "", nodepool.UndrainableSchedule, nodepool.UndrainableCordon:
		o.up.OnUndrainable = o.undrainable
	default:
		return usagef("--undrainable %q: use %s or %s", o.undrainable, nodepool.UndrainableSchedule, nodepool.UndrainableCordon)
	}
	if o.up.KubernetesVersion != "" {
		if _, err := toolchain.ResolveKubernetesVersion(o.up.KubernetesVersion); err != nil {
			return usageError{Err: err}
		}
	}
	return nil
}

func (o *localUpgradePoolOptions) Run(ctx context.Context) error {
	p, err := o.provider()
	if err != nil {
		return err
	}
	if _, err := p.Fleet.Get(o.name); err != nil {
		return notFoundUsage(err)
	}
	o.up.Events = func(ev nodepool.Event) { o.printer.Action("%s", ev.Message) }
	res, err := p.UpgradeNodePool(ctx, o.name, o.pool, o.up)
	if err != nil {
		return err
	}
	o.printer.Success("node pool %s of %s: %d node(s) replaced in %d batch(es) in %s", o.pool, o.name, res.Replaced, res.Batches, res.Duration.Round(100*time.Millisecond))
	if o.output != "" {
		return writeData(o.streams.Out, o.output, res)
	}
	return nil
}

func (o *localOptions) provider() (*local.Provider, error) {
	lf, err := o.localFleet()
	if err != nil {
		return nil, err
	}
	return local.New(lf), nil
}

// notFoundUsage makes a cluster that does not exist bad input (exit 2).
func notFoundUsage(err error) error {
	if errors.Is(err, localfleet.ErrNotFound) {
		return usageError{Err: err}
	}
	return err
}
