package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/nodes"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/cluster/local"
	"upshift.dev/upshift/internal/toolchain"
)

// The commands here show the local fleet as a cluster provider sees it, in
// the exec provider's wire format, so that a script can drive the local
// fleet through provider exec (docs/providers/exec.md, and the example in
// examples/exec-provider).

func newLocalGetCommand(o *localOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get NAME [-o json|yaml]",
		Short: "Print a local cluster as a provider sees it: version, node pools, kubeconfig (the exec provider's get answer)",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateOutput(output, outputJSON, outputYAML); err != nil {
				return err
			}
			p, err := o.provider()
			if err != nil {
				return err
			}
			got, err := p.Get(cmd.Context(), args[0])
			if err != nil {
				return notFoundUsage(err)
			}
			return writeData(o.streams.Out, output, got)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", outputYAML, "json or yaml")
	return cmd
}

func newLocalVersionsCommand(o *localOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "versions [-o json|yaml]",
		Short: "List the Kubernetes versions local clusters can run, oldest first (the exec provider's versions answer)",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateOutput(output, outputTable, outputJSON, outputYAML); err != nil {
				return err
			}
			var list []string
			for _, v := range toolchain.Versions(toolchain.Releases) {
				list = append(list, v.String())
			}
			if output == outputTable {
				for _, v := range list {
					fmt.Fprintln(o.streams.Out, v)
				}
				return nil
			}
			return writeData(o.streams.Out, output, struct {
				Versions []string `json:"versions"`
			}{list})
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", outputTable, "table, json or yaml")
	return cmd
}

func newLocalUpgradePoolCommand(o *localOptions) *cobra.Command {
	var (
		up          cluster.NodePoolUpgrade
		surge       string
		output      string
		undrainable string
	)
	cmd := &cobra.Command{
		Use:   "upgrade-node-pool NAME POOL [--kubernetes-version V] [--node-image IMAGE]",
		Short: "Replace a local cluster's node pool with nodes at a version or image: surge nodes, PDB-respecting drains",
		Example: `  upshift local upgrade-node-pool prod user --kubernetes-version 1.37 --max-surge 33%
  upshift local upgrade-node-pool prod user --node-image ubuntu-2204-2025.03 -o json`,
		Args: exactArgs(2, "NAME POOL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" {
				if err := validateOutput(output, outputJSON, outputYAML); err != nil {
					return err
				}
			}
			if surge != "" {
				up.MaxSurge = intstr.Parse(surge)
				if _, err := intstr.GetScaledValueFromIntOrPercent(&up.MaxSurge, 100, true); err != nil || (up.MaxSurge.Type == intstr.Int && up.MaxSurge.IntVal < 1) {
					return usagef("--max-surge %q: give a node count (3) or a percentage of the pool (33%%)", surge)
				}
			}
			switch undrainable {
			case "", nodes.UndrainableSchedule, nodes.UndrainableCordon:
				up.OnUndrainable = undrainable
			default:
				return usagef("--undrainable %q: use %s or %s", undrainable, nodes.UndrainableSchedule, nodes.UndrainableCordon)
			}
			if up.KubernetesVersion != "" {
				if _, err := toolchain.ResolveKubernetesVersion(up.KubernetesVersion); err != nil {
					return usageError{err}
				}
			}
			p, err := o.provider()
			if err != nil {
				return err
			}
			if _, err := p.Fleet.Get(args[0]); err != nil {
				return notFoundUsage(err)
			}
			up.Events = func(ev nodes.Event) { o.printer.Action("%s", ev.Message) }
			res, err := p.UpgradeNodePool(cmd.Context(), args[0], args[1], up)
			if err != nil {
				return err
			}
			o.printer.Success("node pool %s of %s: %d node(s) replaced in %d batch(es) in %s", args[1], args[0], res.Replaced, res.Batches, res.Duration.Round(100*time.Millisecond))
			if output != "" {
				return writeData(o.streams.Out, output, res)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&up.KubernetesVersion, "kubernetes-version", "", "kubelet version of the new nodes (default: the pool's): "+releaseList())
	cmd.Flags().StringVar(&up.NodeImage, "node-image", "", "node image of the new nodes (default: the pool's)")
	cmd.Flags().StringVar(&surge, "max-surge", "", "extra nodes at a time, a count or a percentage of the pool (default 1)")
	cmd.Flags().DurationVar(&up.DrainTimeout, "drain-timeout", 0, "how long a node's drain may wait on PodDisruptionBudgets (default 30m)")
	cmd.Flags().DurationVar(&up.Soak, "node-soak", 0, "wait after each old node is deleted before its slot takes the next one (AKS's node soak)")
	cmd.Flags().StringVar(&undrainable, "undrainable", "", "a node whose drain times out: Schedule (fail, the default) or Cordon (leave it cordoned and go on)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "print the result as json or yaml")
	return cmd
}

func (o *localOptions) provider() (*local.Provider, error) {
	fleet, err := o.fleet()
	if err != nil {
		return nil, err
	}
	return local.New(fleet), nil
}

// notFoundUsage makes a cluster that does not exist bad input (exit 2).
func notFoundUsage(err error) error {
	if errors.Is(err, localfleet.ErrNotFound) {
		return usageError{err}
	}
	return err
}
