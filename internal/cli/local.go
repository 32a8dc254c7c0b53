package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"upshift.dev/upshift/internal/cmdkit"
	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/names"
	"upshift.dev/upshift/internal/printer"
	"upshift.dev/upshift/internal/toolchain"
)

// localOptions are shared by the local subcommands.
type localOptions struct {
	streams Streams
	home    string
	cache   string
	printer *printer.Printer
}

func (o *localOptions) localFleet() (*localfleet.Fleet, error) {
	self, err := selfCommand()
	if err != nil {
		return nil, err
	}
	return &localfleet.Fleet{
		Home:          o.home,
		Tools:         &toolchain.Cache{Dir: o.cache, Log: o.printer.Actions()},
		DaemonCommand: self,
		Progress:      o.printer.Actions(),
	}, nil
}

func newLocalCommand(s Streams) *cobra.Command {
	o := &localOptions{streams: s, printer: printer.New(s.Err)}
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run real Kubernetes clusters on this machine (the local fleet)",
		Long: `Run real Kubernetes control planes on loopback: etcd, kube-apiserver,
kube-controller-manager and kube-scheduler built from the official Go modules,
kwok standing in for kubelets, and an ingress stand-in per cluster.`,
	}
	cmd.PersistentFlags().StringVar(&o.home, "home", localfleet.DefaultHome(), "state folder of the local fleet ($UPSHIFT_HOME)")
	cmd.PersistentFlags().StringVar(&o.cache, "cache", toolchain.DefaultCacheDir(), "cache folder of built binaries ($UPSHIFT_CACHE)")
	cmd.AddCommand(newLocalUpCommand(o), newLocalDownCommand(o), newLocalListCommand(o),
		newLocalKubeconfigCommand(o), newLocalUpgradeCommand(o), newLocalUpgradePoolCommand(o),
		newLocalGetCommand(o), newLocalVersionsCommand(o), newLocalImagesCommand(o), newLocalAzureCommand(o), newLocalToolsCommand(o), newServeIngressCommand(o))
	return cmd
}

type localUpOptions struct {
	*localOptions
	version   string
	pools     []string
	nodeImage string
	apiPort   int
	ingPort   int
	noFsync   bool
	output    string
	spec      localfleet.Spec
}

func newLocalUpCommand(parent *localOptions) *cobra.Command {
	o := &localUpOptions{localOptions: parent}
	cmd := &cobra.Command{
		Use:   "up NAME",
		Short: "Start a local cluster and wait until it is ready",
		Example: `  upshift local up dev --kubernetes-version 1.36
  upshift local up prod --kubernetes-version 1.36 --node-pool system=3 --node-pool user=5 --node-image ubuntu-2204-2025.01`,
		Args: exactArgs(1, "NAME"),
		RunE: runE(o),
	}
	cmd.Flags().StringVar(&o.version, "kubernetes-version", toolchain.Previous().Minor, "Kubernetes version: "+releaseList())
	cmd.Flags().StringArrayVar(&o.pools, "node-pool", nil, "node pool NAME=COUNT, repeatable (default system=3)")
	cmd.Flags().StringVar(&o.nodeImage, "node-image", localfleet.DefaultNodeImage, "node image version of the pools")
	cmd.Flags().IntVar(&o.apiPort, "api-server-port", 0, "loopback port of the API server (default: a free one)")
	cmd.Flags().IntVar(&o.ingPort, "ingress-port", 0, "loopback port of the ingress stand-in (default: a free one)")
	cmd.Flags().BoolVar(&o.noFsync, "unsafe-no-fsync", false, "run etcd without fsync (benchmarks): faster, not durable across a power cut")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "print the cluster as json or yaml when ready")
	return cmd
}

func (o *localUpOptions) Complete(_ *cobra.Command, args []string) error {
	o.spec = localfleet.Spec{Name: args[0], KubernetesVersion: o.version, NodeImage: o.nodeImage, APIServerPort: o.apiPort, IngressPort: o.ingPort, UnsafeNoFsync: o.noFsync}
	if len(o.pools) == 0 {
		o.pools = []string{"system=3"}
	}
	for _, p := range o.pools {
		pool, err := localfleet.ParsePool(p)
		if err != nil {
			return usageError{Err: err}
		}
		o.spec.NodePools = append(o.spec.NodePools, pool)
	}
	return nil
}

func (o *localUpOptions) Validate() error {
	if o.output != "" {
		if err := validateOutput(o.output, outputJSON, outputYAML); err != nil {
			return err
		}
	}
	if err := o.spec.Validate(); err != nil {
		return usageError{Err: err}
	}
	if _, err := toolchain.ResolveKubernetesVersion(o.spec.KubernetesVersion); err != nil {
		return usageError{Err: err}
	}
	return nil
}

func (o *localUpOptions) Run(ctx context.Context) error {
	lf, err := o.localFleet()
	if err != nil {
		return err
	}
	start := time.Now()
	o.printer.Action("bringing up local cluster %s", o.spec.Name)
	c, err := lf.Up(ctx, o.spec)
	if err != nil {
		if errors.Is(err, localfleet.ErrNameTaken) {
			return usageError{Err: err}
		}
		return err
	}
	st := lf.Status(ctx, c)
	o.printer.Success("local cluster %s is ready in %s: %s, nodes %s", c.Name, time.Since(start).Round(100*time.Millisecond), st.ServerVersion, st.PoolSummary())
	if o.output != "" {
		return writeData(o.streams.Out, o.output, st)
	}
	fmt.Fprintf(o.streams.Out, "kubeconfig: %s (context %s)\napi server: %s\ningress:    %s\n", c.KubeconfigPath(), c.Name, c.APIServerURL(), c.IngressURL())
	return nil
}

type localDownOptions struct {
	*localOptions
	all   bool
	names []string
}

func newLocalDownCommand(parent *localOptions) *cobra.Command {
	o := &localDownOptions{localOptions: parent}
	cmd := &cobra.Command{
		Use:   "down [NAME...] [--all]",
		Short: "Stop local clusters and remove their state",
		RunE:  runE(o),
	}
	cmd.Flags().BoolVar(&o.all, "all", false, "remove every local cluster")
	return cmd
}

func (o *localDownOptions) Complete(_ *cobra.Command, args []string) error {
	o.names = args
	return nil
}

// Validate refuses a name that is not a local cluster's before any is
// removed: a path such as `..` never reaches the file system.
func (o *localDownOptions) Validate() error {
	if o.all == (len(o.names) > 0) {
		return usagef("name the clusters to remove, or pass --all")
	}
	for _, n := range o.names {
		if err := names.Label("local cluster", n); err != nil {
			return err
		}
	}
	return nil
}

func (o *localDownOptions) Run(context.Context) error {
	lf, err := o.localFleet()
	if err != nil {
		return err
	}
	if o.all {
		removed, err := lf.DownAll()
		for _, n := range removed {
			o.printer.Success("local cluster %s removed", n)
		}
		if len(removed) == 0 && err == nil {
			o.printer.Success("no local clusters to remove")
		}
		return err
	}
	var errs []error
	for _, name := range o.names {
		if err := lf.Down(name); err != nil {
			if errors.Is(err, localfleet.ErrNotFound) {
				err = usageError{Err: err}
			}
			errs = append(errs, err)
			continue
		}
		o.printer.Success("local cluster %s removed", name)
	}
	return errors.Join(errs...)
}

type localListOptions struct {
	*localOptions
	output string
}

func newLocalListCommand(parent *localOptions) *cobra.Command {
	o := &localListOptions{localOptions: parent}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List local clusters: versions, ports, node pools, health",
		Args:    exactArgs(0, ""),
		RunE:    runE(o),
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", outputTable, "table, wide, json or yaml")
	return cmd
}

func (o *localListOptions) Complete(*cobra.Command, []string) error { return nil }

func (o *localListOptions) Validate() error {
	return validateOutput(o.output, outputTable, outputWide, outputJSON, outputYAML)
}

func (o *localListOptions) Run(ctx context.Context) error {
	lf, err := o.localFleet()
	if err != nil {
		return err
	}
	clusters, err := lf.Clusters()
	if err != nil {
		return err
	}
	statuses := make([]localfleet.Status, 0, len(clusters))
	for _, c := range clusters {
		statuses = append(statuses, lf.Status(ctx, c))
	}
	if o.output == outputJSON || o.output == outputYAML {
		return writeData(o.streams.Out, o.output, statuses)
	}
	header := []string{"NAME", "VERSION", "HEALTH", "API SERVER", "INGRESS", "NODE POOLS (READY/NODES)", "KUBELETS"}
	if o.output == outputWide {
		header = append(header, "NODE IMAGES", "PHASE", "KUBECONFIG")
	}
	var rows [][]string
	for _, s := range statuses {
		version := s.ServerVersion
		if version == "" {
			version = s.KubernetesVersion
		}
		row := []string{s.Name, version, s.Health, s.APIServer, s.Ingress, s.PoolSummary(), s.PoolVersions()}
		if o.output == outputWide {
			row = append(row, s.PoolImages(), s.Phase, s.Kubeconfig)
		}
		rows = append(rows, row)
	}
	return printer.Table(o.streams.Out, header, rows)
}

// namedLocalOptions are those of a command about one local cluster.
type namedLocalOptions struct {
	*localOptions
	name string
}

func (o *namedLocalOptions) Complete(_ *cobra.Command, args []string) error {
	o.name = args[0]
	return nil
}

func (o *namedLocalOptions) Validate() error { return names.Label("local cluster", o.name) }

// cluster opens the local fleet and finds the named cluster; one that does
// not exist is bad input.
func (o *namedLocalOptions) cluster() (*localfleet.Fleet, *localfleet.Cluster, error) {
	lf, err := o.localFleet()
	if err != nil {
		return nil, nil, err
	}
	c, err := lf.Get(o.name)
	if err != nil {
		return nil, nil, usageError{Err: err}
	}
	return lf, c, nil
}

type localKubeconfigOptions struct {
	namedLocalOptions
	merge, force bool
}

func newLocalKubeconfigCommand(parent *localOptions) *cobra.Command {
	o := &localKubeconfigOptions{namedLocalOptions: namedLocalOptions{localOptions: parent}}
	cmd := &cobra.Command{
		Use:   "kubeconfig NAME [--merge [--force]]",
		Short: "Print the path of a cluster's kubeconfig, or merge it into $KUBECONFIG",
		Args:  exactArgs(1, "NAME"),
		RunE:  runE(o),
	}
	cmd.Flags().BoolVar(&o.merge, "merge", false, "merge into your kubeconfig as kubectl config does (the first existing file of $KUBECONFIG, default ~/.kube/config) and switch to it")
	cmd.Flags().BoolVar(&o.force, "force", false, "with --merge: replace a context, cluster or user of the same name that points elsewhere")
	return cmd
}

func (o *localKubeconfigOptions) Run(context.Context) error {
	_, c, err := o.cluster()
	if err != nil {
		return err
	}
	if !o.merge {
		fmt.Fprintln(o.streams.Out, c.KubeconfigPath())
		return nil
	}
	target, err := mergeKubeconfig(c.KubeconfigPath(), o.force)
	if err != nil {
		return err
	}
	o.printer.Success("merged context %s into %s", c.Name, target)
	return nil
}

// mergeKubeconfig merges src into the user's kubeconfig and makes its
// context current. The kubeconfig holds credentials: it is written 0600.
func mergeKubeconfig(src string, force bool) (string, error) {
	access := clientcmd.NewDefaultPathOptions()
	target := access.GetDefaultFilename()
	add, err := clientcmd.LoadFromFile(src)
	if err != nil {
		return "", err
	}
	dst, err := access.GetStartingConfig()
	if err != nil {
		return "", fmt.Errorf("reading your kubeconfig: %w", err)
	}
	if !force {
		var taken []string
		for k, v := range add.Contexts {
			if old, ok := dst.Contexts[k]; ok && (old.Cluster != v.Cluster || old.AuthInfo != v.AuthInfo) {
				taken = append(taken, "context "+k)
			}
		}
		for k, v := range add.Clusters {
			if old, ok := dst.Clusters[k]; ok && old.Server != v.Server {
				taken = append(taken, fmt.Sprintf("cluster %s (server %s)", k, old.Server))
			}
		}
		for k, v := range add.AuthInfos {
			if old, ok := dst.AuthInfos[k]; ok {
				a, b := *old, *v
				a.LocationOfOrigin, b.LocationOfOrigin = "", ""
				if !apiequality.Semantic.DeepEqual(a, b) {
					taken = append(taken, "user "+k)
				}
			}
		}
		if len(taken) > 0 {
			sort.Strings(taken)
			return "", usagef("your kubeconfig already has %s for something else: nothing was changed; pass --force to replace them, or use the printed kubeconfig path", strings.Join(taken, ", "))
		}
	}
	// An entry keeps the file it came from: a replaced one is written
	// where it was, a new one where kubectl writes new entries; never
	// back into the local cluster's own kubeconfig.
	origin := func(existing string) string {
		if existing != "" {
			return existing
		}
		return target
	}
	for k, v := range add.Clusters {
		v.LocationOfOrigin = ""
		if old, ok := dst.Clusters[k]; ok {
			v.LocationOfOrigin = origin(old.LocationOfOrigin)
		}
		dst.Clusters[k] = v
	}
	for k, v := range add.AuthInfos {
		v.LocationOfOrigin = ""
		if old, ok := dst.AuthInfos[k]; ok {
			v.LocationOfOrigin = origin(old.LocationOfOrigin)
		}
		dst.AuthInfos[k] = v
	}
	for k, v := range add.Contexts {
		v.LocationOfOrigin = ""
		if old, ok := dst.Contexts[k]; ok {
			v.LocationOfOrigin = origin(old.LocationOfOrigin)
		}
		dst.Contexts[k] = v
	}
	dst.CurrentContext = add.CurrentContext
	if err := clientcmd.ModifyConfig(access, *dst, true); err != nil {
		return "", err
	}
	return target, nil
}

type localUpgradeOptions struct {
	namedLocalOptions
	version string
	target  toolchain.Release
}

func newLocalUpgradeCommand(parent *localOptions) *cobra.Command {
	o := &localUpgradeOptions{namedLocalOptions: namedLocalOptions{localOptions: parent}}
	cmd := &cobra.Command{
		Use:   "upgrade-control-plane NAME --kubernetes-version VERSION",
		Short: "Restart a local cluster's control plane on the next minor version",
		Args:  exactArgs(1, "NAME"),
		RunE:  runE(o),
	}
	cmd.Flags().StringVar(&o.version, "kubernetes-version", "", "target version: "+releaseList())
	return cmd
}

func (o *localUpgradeOptions) Validate() error {
	if err := o.namedLocalOptions.Validate(); err != nil {
		return err
	}
	if o.version == "" {
		return usagef("--kubernetes-version is required: %s", releaseList())
	}
	target, err := toolchain.ResolveKubernetesVersion(o.version)
	if err != nil {
		return usageError{Err: err}
	}
	o.target = target
	return nil
}

func (o *localUpgradeOptions) Run(ctx context.Context) error {
	lf, c, err := o.cluster()
	if err != nil {
		return err
	}
	if err := localfleet.CheckUpgrade(c.KubernetesVersion, o.target.Version); err != nil {
		return usageError{Err: err}
	}
	start := time.Now()
	if err := lf.UpgradeControlPlane(ctx, o.name, o.version); err != nil {
		return err
	}
	o.printer.Success("control plane of %s runs %s (%s)", o.name, o.target.Version, time.Since(start).Round(100*time.Millisecond))
	return nil
}

type localToolsOptions struct {
	*localOptions
	build bool
}

func newLocalToolsCommand(parent *localOptions) *cobra.Command {
	o := &localToolsOptions{localOptions: parent}
	cmd := &cobra.Command{
		Use:   "tools [--build]",
		Short: "Show (and build) the local fleet's binaries in the cache",
		Args:  exactArgs(0, ""),
		RunE:  runE(o),
	}
	cmd.Flags().BoolVar(&o.build, "build", false, "build what is missing")
	return cmd
}

func (o *localToolsOptions) Complete(*cobra.Command, []string) error { return nil }

func (o *localToolsOptions) Validate() error { return nil }

func (o *localToolsOptions) Run(ctx context.Context) error {
	cache := &toolchain.Cache{Dir: o.cache, Log: o.printer.Actions()}
	var rows [][]string
	for _, b := range toolchain.All() {
		if o.build && !cache.Built(b) {
			start := time.Now()
			if _, err := cache.Ensure(ctx, b); err != nil {
				return err
			}
			o.printer.Success("built %s in %s", b, time.Since(start).Round(time.Second))
		}
		path, err := cache.Path(b)
		if err != nil {
			return err
		}
		state := "missing"
		if cache.Built(b) {
			state = "built"
		}
		rows = append(rows, []string{b.Name, b.Version, state, path})
	}
	return printer.Table(o.streams.Out, []string{"BINARY", "VERSION", "STATE", "PATH"}, rows)
}

type serveIngressOptions struct {
	cluster, kubeconfig, listen string
}

func newServeIngressCommand(*localOptions) *cobra.Command {
	o := &serveIngressOptions{}
	cmd := &cobra.Command{
		Use:    "serve-ingress",
		Short:  "Run a cluster's ingress stand-in (started by `local up`)",
		Hidden: true,
		Args:   exactArgs(0, ""),
		RunE:   runE(o),
	}
	cmd.Flags().StringVar(&o.cluster, "cluster", "", "cluster name")
	cmd.Flags().StringVar(&o.kubeconfig, "kubeconfig", "", "admin kubeconfig")
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:0", "listen address")
	return cmd
}

func (o *serveIngressOptions) Complete(*cobra.Command, []string) error { return nil }

func (o *serveIngressOptions) Validate() error {
	if o.cluster == "" || o.kubeconfig == "" {
		return usagef("--cluster and --kubeconfig are required")
	}
	return nil
}

func (o *serveIngressOptions) Run(ctx context.Context) error {
	return ServeIngress(ctx, o.cluster, o.kubeconfig, o.listen)
}

// ServeIngress runs an ingress stand-in until SIGTERM. Test binaries that
// stand in for upshift call it directly.
func ServeIngress(ctx context.Context, cluster, kubeconfig, listen string) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	return ingress.New(cluster, client).ListenAndServe(ctx, listen)
}

func releaseList() string {
	var parts []string
	for _, r := range toolchain.Releases {
		parts = append(parts, r.Minor+" ("+r.Version+")")
	}
	return strings.Join(parts, ", ")
}

// exactArgs is cobra.ExactArgs with a message that says what to give.
var exactArgs = cmdkit.ExactArgs
