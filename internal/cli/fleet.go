package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/fleet"
)

func newFleetCommand(s Streams) *cobra.Command {
	o := &runOptions{streams: s}
	var output string
	cmd := &cobra.Command{
		Use:   "fleet --fleet FLEET_FILE [-o table|json|yaml]",
		Short: "Show a fleet file's clusters as they are now: versions, node pools, reachability",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateOutput(output, outputTable, outputJSON, outputYAML); err != nil {
				return err
			}
			if o.fleetFile == "" {
				return usagef("--fleet FLEET_FILE is required")
			}
			data, err := os.ReadFile(o.fleetFile)
			if err != nil {
				return usageError{err}
			}
			clusters, err := fleet.Parse(o.fleetFile, data)
			if err != nil {
				return usageError{err}
			}
			e := o.engine(clusters)
			for i := range clusters {
				c := &clusters[i]
				cond := metav1.Condition{Type: v1alpha1.ConditionReachable, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonObserved, Message: "read by upshift"}
				m, err := e.Resolve(*c)
				if err == nil {
					got, gerr := m.Provider.Get(cmd.Context(), m.Name)
					if gerr == nil {
						c.Status.KubernetesVersion = got.KubernetesVersion
						for _, np := range got.NodePools {
							c.Status.NodePools = append(c.Status.NodePools, v1alpha1.NodePoolStatus{Name: np.Name, Count: np.Count, KubernetesVersion: np.KubernetesVersion, NodeImage: np.NodeImage})
						}
					}
					err = gerr
					if err == nil && m.RESTConfig != nil {
						err = answersUpshift(cmd.Context(), m.RESTConfig)
					}
				}
				if err != nil {
					cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, v1alpha1.ReasonUnreachable, err.Error()
				}
				meta.SetStatusCondition(&c.Status.Conditions, cond)
			}
			if output != outputTable {
				return writeData(s.Out, output, clusters)
			}
			var rows [][]string
			for _, c := range clusters {
				var pools []string
				for _, p := range c.Status.NodePools {
					pools = append(pools, fmt.Sprintf("%s=%d (%s, %s)", p.Name, p.Count, p.KubernetesVersion, p.NodeImage))
				}
				reach := "yes"
				if cond := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionReachable); cond.Status != metav1.ConditionTrue {
					reach = "no: " + cond.Message
				}
				rows = append(rows, []string{c.Name, c.Spec.Group, c.Spec.Provider, c.Status.KubernetesVersion, strings.Join(pools, " "), reach})
			}
			return table(s.Out, []string{"NAME", "GROUP", "PROVIDER", "VERSION", "NODE POOLS", "REACHABLE"}, rows)
		},
	}
	o.addHome(cmd)
	cmd.Flags().StringVar(&o.fleetFile, "fleet", "", "fleet file of upshift.dev/v1alpha1 Cluster objects (required)")
	cmd.Flags().StringVarP(&output, "output", "o", outputTable, "table, json or yaml")
	return cmd
}

// answersUpshift checks that the cluster's own API server takes upshift's
// credentials (the provider's platform may answer while the kubeconfig
// is wrong, and every gate, scan and drain needs the API).
func answersUpshift(ctx context.Context, cfg *rest.Config) error {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = 10 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	if err := dc.RESTClient().Get().AbsPath("/version").Do(ctx).Error(); err != nil {
		if apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err) {
			return fmt.Errorf("its API server refuses upshift's credentials (spec.kubeconfig, spec.context): %w", err)
		}
		return fmt.Errorf("its API server: %w", err)
	}
	return nil
}
