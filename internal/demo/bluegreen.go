package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/fleet"
	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/plan"
	"upshift.dev/upshift/internal/printer"
	"upshift.dev/upshift/internal/sampleapp"
	"upshift.dev/upshift/internal/toolchain"
)

// The blue-green part of the demo: one cluster behind upshift's gateway,
// moved to a new cluster while users keep coming.
const (
	demoShop      = "demo-shop"
	demoShopGreen = "demo-shop-g2"
)

var demoHosts = v1alpha1.HostNames{Public: "shop.demo.example", Cluster: "aks.demo.example", Blue: "aks-blue.demo.example", Green: "aks-green.demo.example"}

// upDemoShop brings up blue with the app.
func upDemoShop(ctx context.Context, lf *localfleet.Fleet) (*localfleet.Cluster, error) {
	return upDemoBlue(ctx, lf, demoShop, demoShopGreen, sampleapp.App{Namespace: "shop", Name: "web", Host: demoHosts.Public, Replicas: 3, MinAvailable: 2})
}

// upDemoBlue brings up a blue cluster at the previous version running
// app, removing what an earlier demo left of it and its green.
func upDemoBlue(ctx context.Context, lf *localfleet.Fleet, name, green string, app sampleapp.App) (*localfleet.Cluster, error) {
	_ = lf.Down(green)
	_ = lf.Down(name)
	c, err := lf.Up(ctx, localfleet.Spec{Name: name, KubernetesVersion: toolchain.Previous().Minor,
		NodePools: []localfleet.PoolSpec{{Name: "system", Count: 1}, {Name: "user", Count: 2}}})
	if err != nil {
		return nil, err
	}
	client, err := c.Client()
	if err != nil {
		return nil, err
	}
	if err := app.Deploy(ctx, client); err != nil {
		return nil, err
	}
	if err := app.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
		return nil, err
	}
	if _, err := ingress.WaitServed(ctx, c.IngressURL(), app.Host, int(app.Replicas), time.Minute); err != nil {
		return nil, err
	}
	return c, nil
}

func loopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// runBlueGreen puts blue behind a gateway, starts users, and moves
// them to a green cluster at the higher version through T0–T4.
func runBlueGreen(ctx context.Context, d *Demo, blue *localfleet.Cluster, dir string) error {
	out := d.Out
	gw, err := startGateway(ctx, d, dir, demoHosts, blue)
	if err != nil {
		return err
	}
	defer gw.stop()
	front, admin, tokenFile := gw.front, gw.admin, gw.tokenFile

	bg := v1alpha1.BlueGreenSpec{
		Traffic: v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficGateway, Hosts: demoHosts, URL: front,
			Gateway: &v1alpha1.GatewayTraffic{AdminURL: admin, TokenFile: tokenFile}},
		Sync:   v1alpha1.SyncSpec{Source: v1alpha1.SyncCopy, Namespaces: []string{"shop"}},
		Freeze: v1alpha1.FreezeSpec{ServiceAccounts: []string{"shop/deployer"}},
		Validation: v1alpha1.BlueGreenValidation{
			Gates:          []v1alpha1.GateSpec{{Name: "green-serves-the-shop", Type: v1alpha1.GateHTTP, HTTP: &v1alpha1.HTTPGate{URL: "/", BodyContains: toolchain.Latest().Minor}}},
			LoadComparison: &v1alpha1.LoadComparison{Requests: 200, Concurrency: 4},
		},
		PostSwitch: v1alpha1.PostSwitchSpec{Window: durationPtr(10 * time.Second)},
		BlueSoak:   durationPtr(5 * time.Second),
	}
	bgYAML, err := yaml.Marshal(bg)
	if err != nil {
		return err
	}
	bgFile := filepath.Join(dir, "bluegreen.yaml")
	if err := os.WriteFile(bgFile, bgYAML, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nBlue-green (the same as `upshift bluegreen %s --to %s -f %s`):\n\n%s\n", demoShop, toolchain.Latest().Minor, bgFile, bgYAML)

	clusters := []v1alpha1.Cluster{fleet.Local(demoShop)} // a local cluster of its own fleet
	runName := "demo-bluegreen-" + time.Now().UTC().Format("20060102-150405")
	run := plan.BlueGreenRun(runName, toolchain.Latest().Minor, &bg)
	e := d.CLI.Engine(clusters)
	if err := d.CLI.Initialize(ctx, e, run, run.Spec.Strategy, ""); err != nil {
		return err
	}

	// Users: 4 clients on the public name through the gateway, all along.
	users := loadgen.Start(ctx, loadgen.Target{URL: front + "/", Host: demoHosts.Public}, 4, 10*time.Millisecond)
	start := time.Now()
	final, err := e.Drive(ctx, runName)
	stats := users.Stop()
	if final != nil {
		fmt.Fprintln(out)
		d.CLI.WriteRunReport(out, final)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("blue-green run: %w", err)
	}
	fmt.Fprintf(out, "\nUsers during the blue-green move (%s):\n", time.Since(start).Round(time.Second))
	var rows [][]string
	var servers []string
	for s := range stats.ByServer {
		servers = append(servers, s)
	}
	sort.Strings(servers)
	for _, s := range servers {
		rows = append(rows, []string{s, fmt.Sprint(stats.ByServer[s])})
	}
	fmt.Fprintf(out, "  requests sent %d, failed %d, p50 %s, p95 %s\n", stats.Sent, stats.Failed, stats.P50.Round(10*time.Microsecond), stats.P95.Round(10*time.Microsecond))
	if bgs := final.Status.Stages[0].Clusters[0].BlueGreen; bgs != nil && bgs.SwitchDuration != nil {
		fmt.Fprintf(out, "  switch of %s to green: %s (weights applied and verified through the gateway's admin API)\n", demoHosts.Cluster, bgs.SwitchDuration.Duration.Round(time.Millisecond))
	}
	if err := printer.Table(out, []string{"SERVED BY", "REQUESTS"}, rows); err != nil {
		return err
	}
	if stats.Failed > 0 {
		return fmt.Errorf("%d of %d user requests failed during the blue-green move: %v", stats.Failed, stats.Sent, stats.Errors)
	}
	return nil
}

// demoGateway is a gateway of the demo, running until stop.
type demoGateway struct {
	front, admin, tokenFile string
	stop                    func()
}

// startGateway runs a gateway whose cluster name (the public name an
// alias) sends all traffic to blue, with a fresh admin token in dir.
func startGateway(ctx context.Context, d *Demo, dir string, hosts v1alpha1.HostNames, blue *localfleet.Cluster) (*demoGateway, error) {
	listen, err := loopbackAddr()
	if err != nil {
		return nil, err
	}
	admin, err := loopbackAddr()
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 24)
	_, _ = rand.Read(secret)
	tokenFile := filepath.Join(dir, blue.Name+"-gateway-token")
	if err := os.WriteFile(tokenFile, []byte(hex.EncodeToString(secret)), 0o600); err != nil {
		return nil, err
	}
	cfg := frontdoor.Config{Listen: listen, AdminListen: admin, AdminTokenFile: tokenFile,
		HealthInterval: frontdoor.Duration{Duration: 500 * time.Millisecond},
		Routes: []frontdoor.Route{{Host: hosts.Cluster, Aliases: []string{hosts.Public}, UpstreamHost: hosts.Public,
			Backends: []frontdoor.Backend{{Name: blue.Name, URL: blue.IngressURL(), Weight: 100}}}}}
	// The gateway's own log lines would interleave with the report.
	logger := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	gw, err := frontdoor.New(cfg, hex.EncodeToString(secret))
	if err != nil {
		slog.SetDefault(logger)
		return nil, err
	}
	gwCtx, stopGateway := context.WithCancel(ctx)
	gwDone := make(chan error, 1)
	go func() { gwDone <- gw.Run(gwCtx) }()
	stop := func() { stopGateway(); <-gwDone; slog.SetDefault(logger) }
	front := "http://" + listen
	if _, err := ingress.WaitServed(ctx, front, hosts.Public, 1, 30*time.Second); err != nil {
		stop()
		return nil, fmt.Errorf("the gateway does not serve %s: %w", hosts.Public, err)
	}
	d.Printer.Success("gateway at %s: %s (alias %s) → %s", front, hosts.Cluster, hosts.Public, blue.Name)
	return &demoGateway{front: front, admin: "http://" + admin, tokenFile: tokenFile, stop: stop}, nil
}

func durationPtr(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
