package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/internal/compliance"
	"upshift.dev/upshift/internal/exitcode"
	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/printer"
	"upshift.dev/upshift/internal/providers/fleetmember"
)

const outputHTML = "html"

func newReportCommand(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Reports over the fleet",
	}
	cmd.AddCommand(newComplianceCommand(s))
	return cmd
}

type complianceOptions struct {
	runOptions
	output string
}

func newComplianceCommand(s Streams) *cobra.Command {
	o := &complianceOptions{runOptions: runOptions{streams: s}}
	cmd := &cobra.Command{
		Use:   "compliance --fleet FLEET_FILE [-o table|json|html]",
		Short: "Patch compliance of the fleet: versions and support, node images behind, open CVEs, last runs, next windows",
		Long: `Report, per cluster: its Kubernetes version and whether it is supported (within
N-2 of the newest minor its provider offers), each pool's node image and how
many releases it is behind the catalogue's newest, the catalogue's CVEs still
open on it, its last update run (from the home's runs), and when its
maintenance window next opens; then fleet totals. A cluster is compliant when
its version is supported and no Critical or High CVE is open on it, both
known. Where its provider has no node-image catalogue (exec, kubeconfig), its
images and CVEs cannot be judged: the cluster is "not known", not compliant.

-o html writes one self-contained page (no script, nothing fetched) to attach
to a ticket or mail. A cluster that cannot be read is reported as such.

Exit codes: 0 every cluster compliant; 8 some are not (or unreadable); 9 none
is found not compliant but some are not known; 2 bad input.`,
		Example: `  upshift report compliance --fleet fleet.yaml
  upshift report compliance --fleet fleet.yaml -o html > compliance.html`,
		Args: exactArgs(0, ""),
		RunE: runE(o),
	}
	o.addHome(cmd)
	cmd.Flags().StringVar(&o.fleetFile, "fleet", "", "fleet file of upshift.dev/v1alpha1 Cluster objects (required)")
	cmd.Flags().StringVarP(&o.output, "output", "o", outputTable, "table, json or html")
	return cmd
}

func (o *complianceOptions) Complete(*cobra.Command, []string) error {
	o.printer = printer.New(o.streams.Err)
	return nil
}

func (o *complianceOptions) Validate() error {
	if err := validateOutput(o.output, outputTable, outputJSON, outputHTML); err != nil {
		return err
	}
	if o.fleetFile == "" {
		return usagef("--fleet FLEET_FILE is required")
	}
	return nil
}

// Run reports, and exits NotCompliant when a cluster is not, else
// NotKnown when the compliance of a cluster cannot be known.
func (o *complianceOptions) Run(ctx context.Context) error {
	r, err := o.compliance(ctx)
	if err != nil {
		return err
	}
	switch o.output {
	case outputJSON:
		err = writeData(o.streams.Out, outputJSON, r)
	case outputHTML:
		err = compliance.WriteHTML(o.streams.Out, r)
	default:
		err = compliance.WriteText(o.streams.Out, r)
	}
	if err != nil {
		return err
	}
	switch {
	case r.Totals.Compliant+r.Totals.NotKnown < r.Totals.Clusters:
		return exitCode(exitcode.NotCompliant)
	case r.Totals.NotKnown > 0:
		return exitCode(exitcode.NotKnown)
	}
	return nil
}

func observe(ctx context.Context, m *fleetmember.Member, ob *compliance.Observed) error {
	got, err := m.Provider.Get(ctx, m.Name)
	if err != nil {
		return fmt.Errorf("unreachable: %w", err)
	}
	if ob.Available, err = m.Provider.Versions(ctx); err != nil {
		return err
	}
	if _, err := kubeversion.Parse(got.KubernetesVersion); err != nil {
		return err
	}
	ob.KubernetesVersion = got.KubernetesVersion
	ps, named := m.Provider.(nodeimages.PoolSource)
	for _, np := range got.NodePools {
		pool := compliance.Pool{Name: np.Name, Image: np.NodeImage}
		if named && ob.Images == nil {
			if pool.Newest, err = ps.NewestPoolImage(ctx, m.Name, np.Name); err != nil {
				return err
			}
			pool.NewestFrom = ob.Provider + " upgrade profile"
		}
		ob.Pools = append(ob.Pools, pool)
	}
	return nil
}

// compliance reports on --fleet.
func (o *runOptions) compliance(ctx context.Context) (compliance.Report, error) {
	clusters, err := o.readFleet()
	if err != nil {
		return compliance.Report{}, err
	}
	e := o.engine(clusters)
	var observed []compliance.Observed
	for _, c := range clusters {
		ob := compliance.Observed{Cluster: c, Provider: c.Spec.Provider}
		m, err := e.Resolve(c)
		if err == nil {
			// Each cluster is judged by its own provider's catalogue; one
			// without a catalogue leaves its images unknown.
			if ni, ok := m.Provider.(nodeimages.Source); ok {
				ob.Images, err = ni.NodeImages(ctx)
			}
		}
		if err == nil {
			err = observe(ctx, m, &ob)
		}
		ob.Err = err
		observed = append(observed, ob)
	}
	runs, err := o.store().List()
	if err != nil {
		return compliance.Report{}, err
	}
	return compliance.Build(time.Now(), observed, runs), nil
}
