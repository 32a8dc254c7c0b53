package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/frontdoor/gatewayapi"
	"upshift.dev/upshift/internal/printer"
	"upshift.dev/upshift/internal/providers/traffic"
	trafficgateway "upshift.dev/upshift/internal/providers/traffic/gateway"
	trafficgatewayapi "upshift.dev/upshift/internal/providers/traffic/gatewayapi"
	"upshift.dev/upshift/internal/providers/traffic/haproxy"
	"upshift.dev/upshift/internal/restconfig"
)

type gatewayOptions struct {
	streams    Streams
	config     string
	resetState bool
	cfg        *frontdoor.Config
	token      string
	// Gateway API: follow a class's Gateways and HTTPRoutes on a cluster.
	gatewayAPI          bool
	kubeconfig, context string
	class               string
	follower            *gatewayapi.Follower
	logs                logOptions
}

func newGatewayCommand(s Streams) *cobra.Command {
	o := &gatewayOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "gateway --config FILE",
		Short: "Run upshift's L7 front door: weighted routes to clusters, switched without losing requests",
		Long: `Run the gateway in the foreground until SIGTERM. The configuration lists each
host's backends (clusters' ingress endpoints) with weights; the admin API
(bearer token from adminTokenFile) reads and sets them, and serves /metrics.

TLS: tls and adminTLS name a certificate and key per listener; SIGHUP
reloads them (a pair that fails to load is reported and the one in use
kept). An adminListen off loopback needs adminTLS. metricsListen serves
/metrics alone without a token, for scrapers.

Pinning: on a route with allowPin: true, a request carrying
pinSecretFile's secret in X-Upshift-Pin-Secret may choose a healthy backend
with X-Upshift-Backend whatever its weight; so may one from loopback where
the route also sets pinFromLoopback: true (unsafe behind a proxy or sidecar
on the same host, whose every request comes from loopback). Every other pin
header is ignored.

Timeouts (defaults): readHeader 10s, read 60s, write 60s, idle 120s,
backendDial 2s, backendResponseHeader 30s, backendIdle 90s.

A stateFile that cannot be read stops the gateway; --reset-state sets it
aside and serves the configuration's routes.

Gateway API: with --gateway-api the gateway also serves the HTTPRoutes
attached to the Gateways of --gateway-class on the cluster --kubeconfig
reaches, as that class's implementation (the class names controller
upshift.dev/gateway), and writes their status. It follows hostnames, the
weighted backendRefs of the rule without matches (Services with
EndpointSlices or an ExternalName) and URLRewrite's hostname; it is not a
conformant implementation.

The gateway's heap is small, so unless GOGC is set it collects garbage at
GOGC=400 rather than Go's 100: about a fifth more requests a second on 2
cores (BenchmarkGatewayVsHAProxy).`,
		Args: exactArgs(0, ""),
		RunE: runE(o),
	}
	cmd.Flags().StringVar(&o.config, "config", "", "gateway configuration file (required)")
	cmd.Flags().BoolVar(&o.resetState, "reset-state", false, "set an unreadable stateFile aside (renamed *.corrupt-TIME) and serve the configuration's routes")
	cmd.Flags().BoolVar(&o.gatewayAPI, "gateway-api", false, "also serve the HTTPRoutes of --gateway-class's Gateways on a cluster, as its implementation")
	cmd.Flags().StringVar(&o.kubeconfig, "kubeconfig", "", "with --gateway-api: the cluster's kubeconfig (default: $KUBECONFIG, ~/.kube/config)")
	cmd.Flags().StringVar(&o.context, "context", "", "with --gateway-api: the kubeconfig's context (default: its current one)")
	cmd.Flags().StringVar(&o.class, "gateway-class", "upshift", "with --gateway-api: the GatewayClass whose Gateways the gateway implements")
	o.logs.add(cmd)
	return cmd
}

func (o *gatewayOptions) Complete(*cobra.Command, []string) error { return nil }

func (o *gatewayOptions) Validate() error {
	if err := o.logs.validate(); err != nil {
		return err
	}
	if o.config == "" {
		return usagef("--config FILE is required")
	}
	cfg, err := frontdoor.LoadConfig(o.config)
	if err != nil {
		return usageError{Err: err}
	}
	if o.token, err = readToken(cfg.AdminTokenFile); err != nil {
		return usageError{Err: err}
	}
	cfg.ResetState = o.resetState
	o.cfg = cfg
	if !o.gatewayAPI {
		if o.kubeconfig != "" || o.context != "" {
			return usagef("--kubeconfig and --context reach the Gateway API's cluster: add --gateway-api")
		}
		return nil
	}
	rc, err := restconfig.FromKubeconfig(o.kubeconfig, o.context)
	if err != nil {
		return usageError{Err: err}
	}
	c, err := trafficgatewayapi.NewClient(rc)
	if err != nil {
		return usageError{Err: err}
	}
	o.follower = &gatewayapi.Follower{Client: c, Class: o.class}
	return nil
}

func (o *gatewayOptions) Run(ctx context.Context) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	p := printer.New(o.streams.Err)
	if o.logs.format == "json" || o.logs.lvl != slog.LevelInfo {
		// The gateway logs through slog's default logger.
		log := o.logs.logger(o.streams.Err)
		slog.SetDefault(log)
		p = o.logs.printer(o.streams.Err, log)
	}
	gw, err := frontdoor.New(*o.cfg, o.token)
	if err != nil {
		return usageError{Err: err}
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	if o.follower != nil {
		o.follower.Gateway = gw
		go func() { _ = o.follower.Run(ctx) }()
		p.Success("following the Gateway API objects of GatewayClass %s", o.class)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := gw.ReloadTLS(); err != nil {
					p.Failure("%v", err)
				} else {
					p.Success("TLS certificates reloaded")
				}
			}
		}
	}()
	p.Success("gateway serving on %s (admin %s) for %d host(s)", o.cfg.Listen, o.cfg.AdminListen, len(o.cfg.Routes))
	return gw.Run(ctx)
}

func readToken(path string) (string, error) {
	if path == "" {
		if t := os.Getenv("UPSHIFT_GATEWAY_TOKEN"); t != "" {
			return t, nil
		}
		return "", fmt.Errorf("set adminTokenFile in the configuration, or UPSHIFT_GATEWAY_TOKEN")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the admin token: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// trafficOptions are those of the traffic commands: a route on a gateway
// or an HAProxy.
type trafficOptions struct {
	streams                 Streams
	admin, tokenFile, route string
	haproxy, haproxyConfig  string
	// Gateway API: the Gateway ([NAMESPACE/]NAME) and the routes' cluster.
	gatewayAPI, kubeconfig, kubeContext, namespace string
	provider                                       traffic.Provider
}

func (o *trafficOptions) Complete(*cobra.Command, []string) error { return nil }

func (o *trafficOptions) Validate() error {
	given := 0
	for _, f := range []string{o.admin, o.haproxy, o.gatewayAPI} {
		if f != "" {
			given++
		}
	}
	if given != 1 || o.route == "" {
		return usagef("--route HOST and one of --gateway ADMIN_URL, --haproxy RUNTIME_API or --gateway-api [NAMESPACE/]GATEWAY are required")
	}
	if o.gatewayAPI != "" {
		ref := v1alpha1.GatewayParentRef{Name: o.gatewayAPI}
		if ns, name, ok := strings.Cut(o.gatewayAPI, "/"); ok {
			ref = v1alpha1.GatewayParentRef{Namespace: ns, Name: name}
		}
		rc, err := restconfig.FromKubeconfig(o.kubeconfig, o.kubeContext)
		if err != nil {
			return usageError{Err: err}
		}
		p, err := trafficgatewayapi.New(rc, v1alpha1.GatewayAPITraffic{Namespace: o.namespace, ParentRef: ref})
		if err != nil {
			return usageError{Err: err}
		}
		o.provider = p
		return nil
	}
	if o.haproxy != "" {
		p, err := haproxy.FromSpec(v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficHAProxy, HAProxy: &v1alpha1.HAProxyTraffic{RuntimeAPI: o.haproxy, ConfigFile: o.haproxyConfig}})
		if err != nil {
			return usageError{Err: err}
		}
		o.provider = p
		return nil
	}
	token, err := readToken(o.tokenFile)
	if err != nil {
		return usageError{Err: err}
	}
	gw := trafficgateway.New(o.admin, token)
	gw.StartWait = 5 * time.Second // a gateway started just before, in the background
	o.provider = gw
	return nil
}

func newTrafficCommand(s Streams) *cobra.Command {
	o := &trafficOptions{streams: s}
	cmd := &cobra.Command{Use: "traffic", Short: "Read and switch a route's weights on a traffic provider (the gateway, HAProxy or Gateway API)"}
	cmd.PersistentFlags().StringVar(&o.admin, "gateway", "", "the gateway's admin URL, e.g. http://127.0.0.1:9090")
	cmd.PersistentFlags().StringVar(&o.haproxy, "haproxy", "", "HAProxy's runtime API (stats socket at level admin): a unix socket path or host:port")
	cmd.PersistentFlags().StringVar(&o.haproxyConfig, "haproxy-config", "", "HAProxy's configuration file, whose server lines are rewritten so a reload keeps the switch")
	cmd.PersistentFlags().StringVar(&o.gatewayAPI, "gateway-api", "", "the Gateway ([NAMESPACE/]NAME) of Gateway API HTTPRoutes; the route is the HTTPRoute named after --route")
	cmd.PersistentFlags().StringVar(&o.kubeconfig, "kubeconfig", "", "with --gateway-api: the routes' cluster (default: $KUBECONFIG, ~/.kube/config)")
	cmd.PersistentFlags().StringVar(&o.kubeContext, "context", "", "with --gateway-api: the kubeconfig's context")
	cmd.PersistentFlags().StringVarP(&o.namespace, "namespace", "n", "", "with --gateway-api: the routes' namespace (default \"default\")")
	cmd.PersistentFlags().StringVar(&o.tokenFile, "token-file", "", "file holding the admin token (default $UPSHIFT_GATEWAY_TOKEN)")
	cmd.PersistentFlags().StringVar(&o.route, "route", "", "the route's host")
	get := &cobra.Command{
		Use: "get", Short: "Print a route's weights", Args: exactArgs(0, ""),
		RunE: runE(&trafficGetOptions{o}),
	}
	set := &cobra.Command{
		Use: "set NAME=WEIGHT[,NAME=WEIGHT...]", Short: "Switch a route's weights (they add up to 100)",
		Example: "  upshift traffic set --gateway http://127.0.0.1:9090 --route shop.example.com blue=0,green=100\n" +
			"  upshift traffic set --haproxy /run/haproxy/admin.sock --haproxy-config /etc/haproxy/haproxy.cfg --route aks.example.com blue=90,green=10",
		Args: exactArgs(1, "NAME=WEIGHT,..."),
		RunE: runE(&trafficSetOptions{trafficOptions: o}),
	}
	del := &cobra.Command{
		Use: "delete", Short: "Remove a route and its aliases from the gateway (its hosts get 404; requests in flight finish)", Args: exactArgs(0, ""),
		Example: "  upshift traffic delete --gateway http://127.0.0.1:9090 --route shop.example.com",
		RunE:    runE(&trafficDeleteOptions{o}),
	}
	cmd.AddCommand(get, set, del)
	return cmd
}

type trafficDeleteOptions struct{ *trafficOptions }

func (o *trafficDeleteOptions) Run(ctx context.Context) error {
	gw, ok := o.provider.(*trafficgateway.Provider)
	if !ok {
		return usagef("traffic delete removes a route from upshift's gateway; with HAProxy, remove the backend from its configuration; with Gateway API, kubectl delete httproute")
	}
	if err := gw.DeleteRoute(ctx, o.route); err != nil {
		return refusedAsUsage(err)
	}
	printer.New(o.streams.Err).Success("route %s removed from the gateway", o.route)
	return nil
}

// refusedAsUsage makes what the gateway refused as invalid, a server
// HAProxy's backend lacks, or a route either does not have, bad input (exit 2): the user's to fix, not a failure.
func refusedAsUsage(err error) error {
	if errors.Is(err, trafficgateway.ErrRefused) || errors.Is(err, traffic.ErrNoRoute) || errors.Is(err, haproxy.ErrNoServer) || errors.Is(err, trafficgatewayapi.ErrNoBackend) {
		return usageError{Err: err}
	}
	return err
}

type trafficGetOptions struct{ *trafficOptions }

func (o *trafficGetOptions) Run(ctx context.Context) error {
	w, err := o.provider.Weights(ctx, o.route)
	if err != nil {
		return refusedAsUsage(err)
	}
	fmt.Fprintln(o.streams.Out, w)
	return nil
}

type trafficSetOptions struct {
	*trafficOptions
	arg     string
	weights traffic.Weights
}

func (o *trafficSetOptions) Complete(_ *cobra.Command, args []string) error {
	o.arg = args[0]
	return nil
}

func (o *trafficSetOptions) Validate() error {
	o.weights = traffic.Weights{}
	for _, part := range strings.Split(o.arg, ",") {
		name, v, ok := strings.Cut(part, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			return usagef("weights %q: write NAME=WEIGHT pairs, e.g. blue=0,green=100", o.arg)
		}
		o.weights[name] = n
	}
	if err := o.weights.Validate(); err != nil {
		return usageError{Err: err}
	}
	return o.trafficOptions.Validate()
}

func (o *trafficSetOptions) Run(ctx context.Context) error {
	if err := o.provider.Switch(ctx, o.route, o.weights); err != nil {
		return refusedAsUsage(err)
	}
	printer.New(o.streams.Err).Success("%s now routes %s", o.route, o.weights)
	return nil
}
