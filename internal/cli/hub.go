package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/internal/crds"
	"upshift.dev/upshift/internal/fleet"
	"upshift.dev/upshift/internal/printer"
)

func newHubCommand(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Hub mode: upshift's API as CustomResourceDefinitions on a hub cluster",
		Long: `Hub mode keeps runs as objects on a hub cluster (kubectl get updateruns) instead
of files. Today: the CRDs (UpdateRun, UpdateStrategy, Cluster,
AutoUpgradeProfile, ApprovalRequest) and the store the engine drives runs with
on a hub. The controller (upshift hub run) is not built yet.`,
	}
	cmd.AddCommand(newHubCRDsCommand(s))
	return cmd
}

func newHubCRDsCommand(s Streams) *cobra.Command {
	var kubeconfig, kubeContext string
	var install bool
	cmd := &cobra.Command{
		Use:   "crds [--install [--kubeconfig F] [--context C]]",
		Short: "Print upshift's CRDs, or install them on a hub cluster and wait until they are served",
		Example: `  upshift hub crds | kubectl apply --server-side -f -
  upshift hub crds --install --context hub`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !install {
				all, err := crds.All()
				if err != nil {
					return err
				}
				for _, crd := range all {
					data, err := yaml.Marshal(crd)
					if err != nil {
						return err
					}
					fmt.Fprintf(s.Out, "---\n%s", data)
				}
				return nil
			}
			cfg, err := fleet.KubeconfigRESTConfig(kubeconfig, kubeContext)
			if err != nil {
				return usageError{err}
			}
			if err := crds.Install(cmd.Context(), cfg, 2*time.Minute); err != nil {
				return err
			}
			printer.New(s.Err).Success("upshift's CRDs are installed and served: kubectl get updateruns,updatestrategies,clusters.upshift.dev,autoupgradeprofiles,approvalrequests")
			return nil
		},
	}
	cmd.Flags().BoolVar(&install, "install", false, "install (or update) the CRDs on the cluster instead of printing them")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the hub (default $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().StringVar(&kubeContext, "context", "", "kubeconfig context of the hub (default the current context)")
	return cmd
}
