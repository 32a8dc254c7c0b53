package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/crds"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/hub"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/names"
	"upshift.dev/upshift/internal/printer"
	"upshift.dev/upshift/internal/restconfig"
	"upshift.dev/upshift/internal/store"
)

func newHubCommand(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Hub mode: upshift's API as CustomResourceDefinitions on a hub cluster",
		Long: `Hub mode keeps runs as objects on a hub cluster (kubectl get updateruns) instead
of files. Today: the CRDs (UpdateRun, UpdateStrategy, Cluster,
AutoUpgradeProfile, ApprovalRequest) and the store the engine drives runs with
on a hub, and upshift hub run, the controller that initializes and drives the
runs applied to its namespace.`,
	}
	cmd.AddCommand(newHubCRDsCommand(s), newHubRunCommand(s))
	return cmd
}

type hubCRDsOptions struct {
	streams                 Streams
	kubeconfig, kubeContext string
	install                 bool
	cfg                     *rest.Config
}

func newHubCRDsCommand(s Streams) *cobra.Command {
	o := &hubCRDsOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "crds [--install [--kubeconfig F] [--context C]]",
		Short: "Print upshift's CRDs, or install them on a hub cluster and wait until they are served",
		Example: `  upshift hub crds | kubectl apply --server-side -f -
  upshift hub crds --install --context hub`,
		Args: exactArgs(0, ""),
		RunE: runE(o),
	}
	cmd.Flags().BoolVar(&o.install, "install", false, "install (or update) the CRDs on the cluster instead of printing them")
	cmd.Flags().StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the hub (default $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().StringVar(&o.kubeContext, "context", "", "kubeconfig context of the hub (default the current context)")
	return cmd
}

func (o *hubCRDsOptions) Complete(*cobra.Command, []string) error { return nil }

func (o *hubCRDsOptions) Validate() error {
	if !o.install {
		return nil
	}
	cfg, err := restconfig.FromKubeconfig(o.kubeconfig, o.kubeContext)
	if err != nil {
		return usageError{Err: err}
	}
	o.cfg = cfg
	return nil
}

func (o *hubCRDsOptions) Run(ctx context.Context) error {
	if !o.install {
		all, err := crds.All()
		if err != nil {
			return err
		}
		for _, crd := range all {
			data, err := yaml.Marshal(crd)
			if err != nil {
				return err
			}
			fmt.Fprintf(o.streams.Out, "---\n%s", data)
		}
		return nil
	}
	if err := crds.Install(ctx, o.cfg, 2*time.Minute); err != nil {
		return err
	}
	printer.New(o.streams.Err).Success("upshift's CRDs are installed and served: kubectl get updateruns,updatestrategies,clusters.upshift.dev,autoupgradeprofiles,approvalrequests")
	return nil
}

type hubRunOptions struct {
	runOptions
	kubeconfig, kubeContext string
	opts                    hub.Options
	noLeaderElection        bool
	dashboardListen         string
	dashboard               dashboardFlags
	logs                    logOptions
	cfg                     *rest.Config
}

func newHubRunCommand(s Streams) *cobra.Command {
	o := &hubRunOptions{runOptions: runOptions{streams: s}}
	cmd := &cobra.Command{
		Use:   "run [--kubeconfig F] [--context C] [--namespace NS]",
		Short: "Run the hub controller: initialize and drive the UpdateRuns applied to a namespace",
		Long: `Run upshift as a controller on a hub cluster (the CRDs must be installed: upshift
hub crds --install). It watches the UpdateRuns of --namespace: a run applied
there is planned over the namespace's Cluster objects and its strategy (inline
or an UpdateStrategy of the namespace), then driven with the same engine as
upshift run, its status in the object. A run that cannot start says why in its
status (phase Failed). Approve with ApprovalRequest objects (or upshift
approve).

Replicas elect a leader on the Lease upshift-hub; each run is driven under its
own Lease (<run>-driver), so when a leader dies a standby takes its runs over
within the lease duration and carries them on from their status.`,
		Example: `  upshift hub crds --install --context hub
  upshift hub run --context hub --namespace fleet`,
		Args: exactArgs(0, ""),
		RunE: runE(o),
	}
	o.addHome(cmd)
	cmd.Flags().StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the hub (default $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().StringVar(&o.kubeContext, "context", "", "kubeconfig context of the hub (default the current context)")
	cmd.Flags().StringVar(&o.opts.Namespace, "namespace", "upshift-system", "namespace of the runs, strategies and member Cluster objects")
	cmd.Flags().BoolVar(&o.opts.AllowExec, "allow-exec", false, "let runs and clusters run commands in this process (Command gates, exec providers, kubeconfig exec plugins); only where everyone who may create UpdateRuns, Clusters and their Secrets in the namespace is trusted with the hub's ServiceAccount")
	cmd.Flags().IntVar(&o.opts.KeepRuns, "keep-runs", 0, "keep the newest N ended runs and delete older ones with their records (0: keep all; a run's spec.ttlSecondsAfterFinished deletes it sooner)")
	cmd.Flags().StringVar(&o.opts.Identity, "identity", "", "this replica's name in leases (default HOSTNAME_PID)")
	cmd.Flags().BoolVar(&o.noLeaderElection, "no-leader-election", false, "drive without electing a leader (one replica only)")
	cmd.Flags().DurationVar(&o.opts.LeaseDuration, "lease-duration", 15*time.Second, "how long a dead leader (or a run's dead driver) keeps its lease")
	cmd.Flags().StringVar(&o.opts.HealthProbeAddr, "health-probe-addr", "", "serve /healthz and /readyz on this address (e.g. :8081)")
	cmd.Flags().StringVar(&o.opts.MetricsAddr, "metrics-listen", "", "serve the controller's Prometheus metrics on this address (e.g. :8080)")
	cmd.Flags().StringVar(&o.dashboardListen, "dashboard-listen", "", "serve the web dashboard of the namespace's runs on this address (e.g. :8090)")
	o.dashboard.add(cmd, "dashboard-")
	o.logs.add(cmd)
	return cmd
}

func (o *hubRunOptions) Complete(*cobra.Command, []string) error {
	o.printer = printer.New(o.streams.Err)
	if o.opts.Identity == "" {
		host, _ := os.Hostname()
		o.opts.Identity = host + "_" + strconv.Itoa(os.Getpid())
	}
	o.opts.LeaderElection = !o.noLeaderElection
	o.opts.CredentialsDir = filepath.Join(o.home, "hub-credentials")
	o.opts.NewEngine = func(clusters []v1alpha1.Cluster, runs store.Runs) *engine.Engine {
		e := o.engine(clusters)
		e.Store = runs
		// The commands its runs suggest reach them on this hub (the
		// context is the reader's own name for it).
		e.CommandFlags = " --context HUB_CONTEXT -n " + o.opts.Namespace
		return e
	}
	return nil
}

func (o *hubRunOptions) Validate() error {
	if err := o.logs.validate(); err != nil {
		return err
	}
	// The controller's log, and the runs' progress: lines for people, or
	// in JSON every one a record with the run, stage, cluster and step.
	o.opts.Log = o.logs.logger(o.streams.Err)
	o.printer = o.logs.printer(o.streams.Err, o.opts.Log)
	o.opts.Progress = func(run string, ev engine.Event) {
		if o.logs.format == "json" {
			level := slog.LevelInfo
			if ev.Type == "Failed" {
				level = slog.LevelError
			}
			o.opts.Log.Log(context.Background(), level, ev.Message, "run", run, "stage", ev.Stage, "cluster", ev.Cluster, "step", ev.Step, "event", ev.Type)
			return
		}
		ev.Message = run + ": " + ev.Message
		o.progress(ev)
	}
	if err := names.Label("namespace", o.opts.Namespace); err != nil {
		return err
	}
	if err := o.dashboard.validate(); err != nil {
		return err
	}
	if o.opts.KeepRuns < 0 {
		return usagef("--keep-runs %d: give how many ended runs to keep (0 keeps all)", o.opts.KeepRuns)
	}
	cfg, err := restconfig.FromKubeconfig(o.kubeconfig, o.kubeContext)
	if err != nil {
		return usageError{Err: err}
	}
	o.cfg = cfg
	return nil
}

func (o *hubRunOptions) Run(ctx context.Context) error {
	if o.dashboardListen != "" {
		// Every replica serves it, reading runs from the hub's watch cache
		// and writing to the API; its sessions are signed cookies any
		// replica sharing the key checks.
		c, err := client.New(o.cfg, client.Options{Scheme: hubstore.Scheme()})
		if err != nil {
			return err
		}
		store := &hubstore.Store{Client: c, Namespace: o.opts.Namespace}
		o.opts.Serve = func(cache client.Reader) (func(), error) {
			d, err := o.dashboard.server(hubstore.CachedReads{Store: store, Cache: cache}, "hub · namespace "+o.opts.Namespace, o.home, o.cfg, o.opts.Namespace, o.printer)
			if err != nil {
				return nil, err
			}
			stop, url, err := o.dashboard.serve(o.dashboardListen, d)
			if err != nil {
				return nil, err
			}
			o.printer.Action("dashboard on %s (sign-in: %s)", url, o.dashboard.auth)
			return stop, nil
		}
	}
	o.printer.Action("hub %s watching UpdateRuns in namespace %s (leader election %s)", o.opts.Identity, o.opts.Namespace, onOff(o.opts.LeaderElection))
	return hub.Run(ctx, o.cfg, o.opts)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
