package cli

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/printer"
	"upshift.dev/upshift/internal/providers/traffic"
	trafficgateway "upshift.dev/upshift/internal/providers/traffic/gateway"
)

func newGatewayCommand(s Streams) *cobra.Command {
	var config string
	var resetState bool
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

Pinning: on a route with allowPin: true, a request from loopback, or one
carrying pinSecretFile's secret in X-Upshift-Pin-Secret, may choose a
healthy backend with X-Upshift-Backend whatever its weight. Every other pin
header is ignored.

Timeouts (defaults): readHeader 10s, read 60s, write 60s, idle 120s,
backendDial 2s, backendResponseHeader 30s, backendIdle 90s.

A stateFile that cannot be read stops the gateway; --reset-state sets it
aside and serves the configuration's routes.

The gateway's heap is small, so unless GOGC is set it collects garbage at
GOGC=400 rather than Go's 100: about a fifth more requests a second on 2
cores (BenchmarkGatewayVsHAProxy).`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			if config == "" {
				return usagef("--config FILE is required")
			}
			cfg, err := frontdoor.LoadConfig(config)
			if err != nil {
				return usageError{err}
			}
			token, err := readToken(cfg.AdminTokenFile)
			if err != nil {
				return usageError{err}
			}
			cfg.ResetState = resetState
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(400)
			}
			gw, err := frontdoor.New(*cfg, token)
			if err != nil {
				return usageError{err}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			p := printer.New(s.Err)
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
			p.Success("gateway serving on %s (admin %s) for %d host(s)", cfg.Listen, cfg.AdminListen, len(cfg.Routes))
			return gw.Run(ctx)
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "gateway configuration file (required)")
	cmd.Flags().BoolVar(&resetState, "reset-state", false, "set an unreadable stateFile aside (renamed *.corrupt-TIME) and serve the configuration's routes")
	return cmd
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

func newTrafficCommand(s Streams) *cobra.Command {
	var admin, tokenFile, route string
	provider := func() (*trafficgateway.Provider, error) {
		if admin == "" || route == "" {
			return nil, usagef("--gateway ADMIN_URL and --route HOST are required")
		}
		token, err := readToken(tokenFile)
		if err != nil {
			return nil, usageError{err}
		}
		return trafficgateway.New(admin, token), nil
	}
	cmd := &cobra.Command{Use: "traffic", Short: "Read and switch a route's weights on a traffic provider (the gateway)"}
	cmd.PersistentFlags().StringVar(&admin, "gateway", "", "the gateway's admin URL, e.g. http://127.0.0.1:9090")
	cmd.PersistentFlags().StringVar(&tokenFile, "token-file", "", "file holding the admin token (default $UPSHIFT_GATEWAY_TOKEN)")
	cmd.PersistentFlags().StringVar(&route, "route", "", "the route's host")
	get := &cobra.Command{
		Use: "get", Short: "Print a route's weights", Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := provider()
			if err != nil {
				return err
			}
			w, err := p.Weights(cmd.Context(), route)
			if err != nil {
				return err
			}
			fmt.Fprintln(s.Out, w)
			return nil
		},
	}
	set := &cobra.Command{
		Use: "set NAME=WEIGHT[,NAME=WEIGHT...]", Short: "Switch a route's weights (they add up to 100)", Example: "  upshift traffic set --gateway http://127.0.0.1:9090 --route shop.example.com blue=0,green=100",
		Args: exactArgs(1, "NAME=WEIGHT,..."),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := traffic.Weights{}
			for _, part := range strings.Split(args[0], ",") {
				name, v, ok := strings.Cut(part, "=")
				n, err := strconv.Atoi(v)
				if !ok || err != nil {
					return usagef("weights %q: write NAME=WEIGHT pairs, e.g. blue=0,green=100", args[0])
				}
				w[name] = n
			}
			if err := w.Validate(); err != nil {
				return usageError{err}
			}
			p, err := provider()
			if err != nil {
				return err
			}
			if err := p.Switch(cmd.Context(), route, w); err != nil {
				return err
			}
			printer.New(s.Err).Success("%s now routes %s", route, w)
			return nil
		},
	}
	cmd.AddCommand(get, set)
	return cmd
}
