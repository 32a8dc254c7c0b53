package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/fleet"
	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/plan"
	"upshift.dev/upshift/internal/sampleapp"
	"upshift.dev/upshift/internal/toolchain"
)

// The canary part of the demo: a cluster whose app breaks on the new
// version is caught at the first step and rolled back; once the app is
// fixed, the same run resumes and promotes green step by step.
const (
	demoWeb      = "demo-web"
	demoWebGreen = "demo-web-g2"
)

var demoWebHosts = v1alpha1.HostNames{Public: "web.demo.example", Cluster: "aks-web.demo.example", Blue: "aks-web-blue.demo.example", Green: "aks-web-green.demo.example"}

// demoWebApp fails 20% of its answers on the new version only.
var demoWebApp = sampleapp.App{Namespace: "shop", Name: "web", Host: demoWebHosts.Public, Replicas: 3, MinAvailable: 2,
	IngressAnnotations: map[string]string{ingress.FaultErrorPercent: "20", ingress.FaultKubernetesVersion: "v" + toolchain.Latest().Minor + "."}}

func upDemoWeb(ctx context.Context, lf *localfleet.Fleet) (*localfleet.Cluster, error) {
	return upDemoBlue(ctx, lf, demoWeb, demoWebGreen, demoWebApp)
}

// runCanary runs the canary of demo-web under users: the broken green
// rolled back automatically, then, with the app fixed, promoted.
func runCanary(ctx context.Context, d *Demo, blue *localfleet.Cluster, dir string) error {
	out := d.Out
	gw, err := startGateway(ctx, d, dir, demoWebHosts, blue)
	if err != nil {
		return err
	}
	defer gw.stop()
	file := plan.CanaryFile{
		BlueGreenSpec: v1alpha1.BlueGreenSpec{
			Traffic: v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficGateway, Hosts: demoWebHosts, URL: gw.front,
				Gateway: &v1alpha1.GatewayTraffic{AdminURL: gw.admin, TokenFile: gw.tokenFile}},
			Sync:     v1alpha1.SyncSpec{Source: v1alpha1.SyncCopy, Namespaces: []string{"shop"}},
			Freeze:   v1alpha1.FreezeSpec{ServiceAccounts: []string{"shop/deployer"}},
			BlueSoak: durationPtr(2 * time.Second),
		},
		Steps: []v1alpha1.CanaryStep{{Weight: 10, Pause: durationPtr(8 * time.Second)}, {Weight: 50, Pause: durationPtr(5 * time.Second)}},
		Analysis: []v1alpha1.GateSpec{{Name: "green-vs-blue", Type: v1alpha1.GateMetrics, Interval: durationPtr(time.Second), FailureThreshold: 2,
			Metrics: &v1alpha1.MetricsGate{MaxErrorRatePercent: ptrTo(1), MinRequests: 10}}},
	}
	data, err := yaml.Marshal(file)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "canary.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nCanary (the same as `upshift canary %s --to %s -f %s`); the app of %s fails 20%% of its answers on %s:\n\n%s\n",
		demoWeb, toolchain.Latest().Minor, path, demoWeb, toolchain.Latest().Minor, data)

	clusters := []v1alpha1.Cluster{fleet.Local(demoWeb)} // a local cluster of its own fleet
	runName := "demo-canary-" + time.Now().UTC().Format("20060102-150405")
	run := plan.BlueGreenRun(runName, toolchain.Latest().Minor, &file.BlueGreenSpec)
	run.Spec.Method, run.Spec.Canary = v1alpha1.MethodCanary, &v1alpha1.CanarySpec{Steps: file.Steps, Analysis: file.Analysis}
	run.Spec.Strategy.Stages[0].Name = "canary"
	e := d.CLI.Engine(clusters)
	if err := d.CLI.Initialize(ctx, e, run, run.Spec.Strategy, ""); err != nil {
		return err
	}

	// When users first reach green, and when all of them are back on
	// blue, as the run reports them (right after each weight change).
	var reached, back time.Time
	var mu sync.Mutex
	show := e.Progress
	e.Progress = func(ev engine.Event) {
		mu.Lock()
		switch {
		case reached.IsZero() && ev.Step == "T3-Canary 1" && strings.HasPrefix(ev.Message, "step 1 of"):
			reached = time.Now()
		case back.IsZero() && ev.Type == v1alpha1.PhaseRolledBack:
			back = time.Now()
		}
		mu.Unlock()
		show(ev)
	}
	users := loadgen.Start(ctx, loadgen.Target{URL: gw.front + "/", Host: demoWebHosts.Public}, 4, 10*time.Millisecond)
	final, err := e.Drive(ctx, runName)
	bad := users.Stop()
	e.Progress = show
	if !errors.Is(err, engine.ErrRolledBack) {
		if final != nil {
			d.CLI.WriteRunReport(out, final)
		}
		return fmt.Errorf("the canary of a green that fails 20%% of its answers was not rolled back: %w", err)
	}
	cs := final.Status.Stages[0].Clusters[0]
	fmt.Fprintln(out)
	d.CLI.WriteCanary(out, cs.Canary)
	mu.Lock()
	if !reached.IsZero() && !back.IsZero() {
		fmt.Fprintf(out, "  users reached green (10%%) at %s, and were all back on blue at %s: %s of exposure, the first bad answers included\n",
			reached.UTC().Format("15:04:05.000"), back.UTC().Format("15:04:05.000"), back.Sub(reached).Round(10*time.Millisecond))
	}
	mu.Unlock()
	fmt.Fprintf(out, "  users meanwhile: %d requests, %d failed (%.2f%%, the error budget spent); green %s kept for inspection\n",
		bad.Sent, bad.Failed, 100*bad.ErrorRate(), cs.BlueGreen.Green)
	d.Printer.Success("the broken green was caught at the first step and rolled back (exit code 11 from `upshift canary`)")

	// The app is fixed on blue; resume copies the fix to green and runs
	// the steps again.
	client, err := blue.Client()
	if err != nil {
		return err
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:null,%q:null}}}`, ingress.FaultErrorPercent, ingress.FaultKubernetesVersion)
	if _, err := client.NetworkingV1().Ingresses("shop").Patch(ctx, "web", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("fixing the app: %w", err)
	}
	d.Printer.Action("the app is fixed on blue; `upshift resume %s` syncs green again and runs the steps", runName)
	users = loadgen.Start(ctx, loadgen.Target{URL: gw.front + "/", Host: demoWebHosts.Public}, 4, 10*time.Millisecond)
	start := time.Now()
	final, err = e.Drive(ctx, runName)
	good := users.Stop()
	if final != nil {
		fmt.Fprintln(out)
		d.CLI.WriteRunReport(out, final)
	}
	if err != nil {
		return fmt.Errorf("canary run after the fix: %w", err)
	}
	fmt.Fprintf(out, "\nUsers during the promotion (%s): %d requests, %d failed; served by %s %d, %s %d\n", time.Since(start).Round(time.Second),
		good.Sent, good.Failed, demoWeb, good.ByServer[demoWeb], demoWebGreen, good.ByServer[demoWebGreen])
	if good.Failed > 0 {
		return fmt.Errorf("%d of %d user requests failed during the healthy canary: %v", good.Failed, good.Sent, good.Errors)
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }
