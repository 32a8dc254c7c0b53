package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/drainsim"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/nodepool"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/cluster/local"
	"upshift.dev/upshift/internal/testfleet"
)

// BenchmarkDrainForecast measures plan --simulate against reality on the
// node-pool benchmark's pool (50 nodes, 20 apps of 50 replicas under
// budgets of minAvailable 45). One upgrade at maxSurge 10% calibrates the
// timings, as a first run in a home would; then, on fresh clusters, for
// maxSurge 10%, 20% and 33%: the replay is timed and its requests
// counted (reads, and evictions that are dry runs), its prediction
// written down, and the real upgrade run and timed. It prints each
// prediction's error (goal: within ±25%) and the replay's time (goal:
// under 5 s, no write).
func BenchmarkDrainForecast(b *testing.B) {
	var timings drainsim.Timings
	b.Run("calibrate", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			rec, took := forecastUpgrade(b, fmt.Sprintf("fc-cal-%d", i), "10%")
			var ok bool
			if timings, ok = drainsim.TimingsFrom([]v1alpha1.NodePoolRecord{rec}, "the calibration upgrade"); !ok {
				b.Fatal("the calibration upgrade measured no drain")
			}
			b.Logf("calibration: %s; node ready p50 %s, drain p50 %s p95 %s", took.Round(100*time.Millisecond), timings.NodeReady.P50, timings.Drain.P50, timings.Drain.P95)
		}
	})
	if timings.Drain.P50 == 0 {
		return
	}
	var lines []string
	for _, surge := range []string{"10%", "20%", "33%"} {
		b.Run("maxSurge="+surge, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				name := fmt.Sprintf("fc-%s-%d", surge[:2], i)
				c, _, _ := poolCluster(b, name)
				cfg, err := c.RESTConfig()
				if err != nil {
					b.Fatal(err)
				}
				cfg = rest.CopyConfig(cfg)
				cfg.QPS, cfg.Burst = 1000, 1000 // the replay's requests, not client-go's limiter, are measured
				var requests testfleet.Requests
				requests.Wrap(cfg)
				client, err := kubernetes.NewForConfig(cfg)
				if err != nil {
					b.Fatal(err)
				}
				pool := drainsim.Pool{Name: "user", Selector: labels.SelectorFromSet(labels.Set{localfleet.LabelNodePool: "user"}), MaxSurge: intstr.FromString(surge), DrainTimeout: 10 * time.Minute}
				b.StartTimer()
				start := time.Now()
				snap, err := drainsim.Load(context.Background(), client)
				if err != nil {
					b.Fatal(err)
				}
				res, err := drainsim.Simulate(snap, pool)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := drainsim.Confirm(context.Background(), client, res); err != nil {
					b.Fatal(err)
				}
				replay := time.Since(start)
				b.StopTimer()
				pred := drainsim.Predict(res, pool, timings)
				reads, dryRuns, writes := requests.Counts()
				if len(res.Blockers) > 0 || len(writes) > 0 {
					b.Fatalf("replay: blockers %+v, writes %v; want none", res.Blockers, writes)
				}
				assertPodsStayed(b, client)
				_, took := forecastUpgradeOn(b, name, surge)
				ratio := pred.Expected.Seconds() / took.Seconds()
				b.ReportMetric(ratio, "predicted/measured")
				b.ReportMetric(replay.Seconds(), "replay-s")
				lines = append(lines, fmt.Sprintf("maxSurge %s: predicted %s (%d batches, %d budget waves), measured %s: %+.0f%%; replay %s (%d reads, %d dry-run evictions, 0 writes)",
					surge, drainsim.Short(pred.Expected), len(res.Batches), res.BudgetWaves, took.Round(100*time.Millisecond), (ratio-1)*100, replay.Round(10*time.Millisecond), reads, dryRuns))
			}
		})
	}
	// Printed, not logged: a parent benchmark's log shows only with -v.
	for _, l := range lines {
		fmt.Println("drain forecast, 50 nodes, 1,000 pods: " + l)
	}
}

// forecastUpgrade makes the benchmark's pool and upgrades it, returning
// what the NodePool step would record and how long it took.
func forecastUpgrade(b *testing.B, name, surge string) (v1alpha1.NodePoolRecord, time.Duration) {
	poolCluster(b, name)
	return forecastUpgradeOn(b, name, surge)
}

func forecastUpgradeOn(b *testing.B, name, surge string) (v1alpha1.NodePoolRecord, time.Duration) {
	p := local.New(testfleet.Fleet(b))
	res, err := p.UpgradeNodePool(context.Background(), name, "user", cluster.NodePoolUpgrade{
		NodeImage: "ubuntu-2204-2025.02", MaxSurge: intstr.FromString(surge), DrainTimeout: 10 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	d := func(x time.Duration) metav1.Duration { return metav1.Duration{Duration: x} }
	return v1alpha1.NodePoolRecord{Provider: "local", Replaced: res.Replaced, Batches: res.Batches,
		NodeReadyP50: d(nodepool.Percentile(res.NodeReady, 0.5)), NodeReadyP95: d(nodepool.Percentile(res.NodeReady, 0.95)),
		DrainP50: d(nodepool.Percentile(res.Drains, 0.5)), DrainP95: d(nodepool.Percentile(res.Drains, 0.95))}, res.Duration
}

// assertPodsStayed checks the replay evicted nothing: every app still has
// all its replicas Ready.
func assertPodsStayed(b *testing.B, client kubernetes.Interface) {
	list, err := client.AppsV1().Deployments("load").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range list.Items {
		if d.Status.ReadyReplicas != poolReplicas {
			b.Fatalf("deployment %s has %d ready replicas after the replay, want %d", d.Name, d.Status.ReadyReplicas, poolReplicas)
		}
	}
}
