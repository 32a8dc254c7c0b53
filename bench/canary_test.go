package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/providers/cluster/local"
	trafficgateway "upshift.dev/upshift/internal/providers/traffic/gateway"
	"upshift.dev/upshift/internal/sampleapp"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

// BenchmarkCanaryRollback measures how long users are exposed to a bad
// green: a canary's first step sends 10% of the traffic to a green whose
// app fails 20% of its answers, and the analysis sends it all back to
// blue. Reported: breach-to-blue-ms, from the moment the gateway first
// gives green weight until it gives it none again (polled every 10 ms),
// and the error budget users spent: the failed share of their requests
// over that span (failed-%; green's 20% × 10% would be 2%). Two analyses: the
// gateway's own counters (Metrics, 1 s interval, 2 failed measurements)
// and a real Prometheus scraping the gateway every second (green's error
// ratio over 5 s, measured every second; the second failed measurement
// ends the step).
func BenchmarkCanaryRollback(b *testing.B) {
	builtin.Register()
	metrics := v1alpha1.GateSpec{Name: "green-vs-blue", Type: v1alpha1.GateMetrics, Interval: &metav1.Duration{Duration: time.Second}, FailureThreshold: 2,
		Metrics: &v1alpha1.MetricsGate{MinRequests: 10}}
	b.Run("Metrics", func(b *testing.B) {
		benchCanaryRollback(b, "cb-metrics", func(string) v1alpha1.GateSpec { return metrics })
	})
	b.Run("Prometheus", func(b *testing.B) {
		benchCanaryRollback(b, "cb-prom", func(prom string) v1alpha1.GateSpec {
			q := `sum(rate(upshift_gateway_requests_total{backend="{{green}}",code=~"5.."}[5s])) / sum(rate(upshift_gateway_requests_total{backend="{{green}}"}[5s]))`
			return v1alpha1.GateSpec{Name: "green-errors", Type: v1alpha1.GatePrometheus, Interval: &metav1.Duration{Duration: time.Second},
				Prometheus: &v1alpha1.PrometheusGate{Address: prom, Query: q, SuccessCondition: "result < 0.01", Count: 60, FailureLimit: 1, InconclusiveLimit: 10}}
		})
	})
}

func benchCanaryRollback(b *testing.B, name string, gate func(prometheus string) v1alpha1.GateSpec) {
	ctx := b.Context()
	hosts := v1alpha1.HostNames{Public: "shop.example.com", Cluster: "aks.example.com", Blue: "aks-blue.example.com", Green: "aks-green.example.com"}
	var breach, budget float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		blue := testfleet.Up(b, localfleet.Spec{Name: name, KubernetesVersion: toolchain.Previous().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
		client, err := blue.Client()
		if err != nil {
			b.Fatal(err)
		}
		app := sampleapp.App{Namespace: "shop", Name: "web", Host: hosts.Public, Replicas: 2,
			IngressAnnotations: map[string]string{ingress.FaultErrorPercent: "20", ingress.FaultKubernetesVersion: "v" + toolchain.Latest().Minor + "."}}
		if err := app.Deploy(ctx, client); err != nil {
			b.Fatal(err)
		}
		if err := app.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
			b.Fatal(err)
		}
		const token = "bench-canary-token-0123456789abcd"
		cfg := frontdoor.Config{Listen: testfleet.LoopbackAddr(b), AdminListen: testfleet.LoopbackAddr(b), MetricsListen: testfleet.LoopbackAddr(b),
			HealthInterval: frontdoor.Duration{Duration: 200 * time.Millisecond},
			Routes:         []frontdoor.Route{{Host: hosts.Cluster, Aliases: []string{hosts.Public}, UpstreamHost: hosts.Public, Backends: []frontdoor.Backend{{Name: name, URL: blue.IngressURL(), Weight: 100}}}}}
		testfleet.RunGateway(b, cfg, token)
		dir := b.TempDir()
		tokenFile := filepath.Join(dir, "token")
		if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
			b.Fatal(err)
		}
		front := "http://" + cfg.Listen
		if _, err := ingress.WaitServed(ctx, front, hosts.Public, 1, time.Minute); err != nil {
			b.Fatal(err)
		}
		prom := testfleet.Prometheus(b, cfg.MetricsListen)
		fleet := []v1alpha1.Cluster{{TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "Cluster"}, ObjectMeta: metav1.ObjectMeta{Name: "shop"},
			Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: name}}}}
		eng := &engine.Engine{Store: &store.Store{Dir: b.TempDir()}, Fleet: fleet, Resolve: local.Resolver(testfleet.Fleet(b)), Poll: 100 * time.Millisecond}
		strategy := &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "prod", LabelSelector: &metav1.LabelSelector{}}}}
		run := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "canary-bench"}, Spec: v1alpha1.UpdateRunSpec{
			Method: v1alpha1.MethodCanary, Strategy: strategy,
			Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: toolchain.Latest().Minor},
			BlueGreen: &v1alpha1.BlueGreenSpec{
				Traffic: v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficGateway, Hosts: hosts, URL: front,
					Gateway: &v1alpha1.GatewayTraffic{AdminURL: "http://" + cfg.AdminListen, TokenFile: tokenFile}},
				Sync: v1alpha1.SyncSpec{Namespaces: []string{"shop"}},
			},
			Canary: &v1alpha1.CanarySpec{Steps: []v1alpha1.CanaryStep{{Weight: 10, Pause: &metav1.Duration{Duration: time.Minute}}}, Analysis: []v1alpha1.GateSpec{gate(prom)}},
		}}
		if _, err := eng.Initialize(ctx, run, strategy); err != nil {
			b.Fatal(err)
		}
		// Watch green's weight as the gateway applies it.
		gw := trafficgateway.New("http://"+cfg.AdminListen, token)
		green := name + "-g2"
		users := loadgen.Start(ctx, loadgen.Target{URL: front + "/", Host: hosts.Public}, 4, 10*time.Millisecond)
		var on, off time.Time
		var atOn, atOff loadgen.Stats
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			for ctx.Err() == nil && off.IsZero() {
				w, err := gw.Weights(ctx, hosts.Cluster)
				switch {
				case err != nil:
				case on.IsZero() && w[green] > 0:
					on, atOn = time.Now(), users.Snapshot()
				case !on.IsZero() && w[green] == 0:
					off, atOff = time.Now(), users.Snapshot()
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		b.StartTimer()
		final, err := eng.Drive(ctx, "canary-bench")
		b.StopTimer()
		<-watched
		stats := users.Stop()
		if !errors.Is(err, engine.ErrRolledBack) || on.IsZero() || off.IsZero() {
			b.Fatalf("want a rollback, with green's weight seen set and cleared: %v (on %v, off %v)\n%s", err, on, off, testfleet.StatusOf(final))
		}
		// What users saw while green had weight: the failed share of
		// their requests over that span is the error budget spent.
		sent, failed := atOff.Sent-atOn.Sent, atOff.Failed-atOn.Failed
		breach += float64(off.Sub(on).Milliseconds())
		budget += 100 * float64(failed) / float64(max(sent, 1))
		b.Logf("users over the whole run: %s; reason: %s", stats, final.Status.Stages[0].Clusters[0].BlueGreen.RollbackReason)
		_ = testfleet.Fleet(b).Down(green)
		fmt.Fprintf(os.Stderr, "%s: green had 10%% for %s: users sent %d requests, %d failed (%.2f%%)\n", b.Name(), off.Sub(on).Round(time.Millisecond), sent, failed, 100*float64(failed)/float64(max(sent, 1)))
	}
	b.ReportMetric(breach/float64(b.N), "breach-to-blue-ms")
	b.ReportMetric(budget/float64(b.N), "failed-%")
}
