package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/crds"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/hub"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

// countingTransport counts the API requests the hub makes, by verb.
type countingTransport struct {
	next  http.RoundTripper
	mu    *sync.Mutex
	verbs map[string]int
	total *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.total.Add(1)
	c.mu.Lock()
	c.verbs[r.Method+" "+resourceOf(r.URL.Path)]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// resourceOf names the resource of an API path: ".../namespaces/NS/updateruns/NAME/status" is
// "updateruns/status".
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range parts {
		if p == "namespaces" && i+2 < len(parts) {
			rest := parts[i+2:]
			if len(rest) == 3 {
				return rest[0] + "/" + rest[2]
			}
			return rest[0]
		}
	}
	return path
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHubScale drives the hub controller (in this process, against a
// real kube-apiserver) through a staged run over 1,000 member Cluster
// objects ($UPSHIFT_BENCH_MEMBERS) in three stages (1%, 9%, 90%;
// maxConcurrency 25%) on a provider that completes at once: the figures
// are the controller's own cost — reconciles, API requests, status writes,
// CPU and memory — not an upgrade's. The goal: ≤ 10 ms of the
// controller's CPU per cluster-step and ≤ 200 MiB at 1,000 members.
func BenchmarkHubScale(b *testing.B) {
	builtin.Register()
	members := 1000
	if v, err := strconv.Atoi(os.Getenv("UPSHIFT_BENCH_MEMBERS")); err == nil && v > 0 {
		members = v
	}
	hubCluster := testfleet.Up(b, localfleet.Spec{Name: "bench-hub", KubernetesVersion: toolchain.Latest().Minor})
	cfg, err := clientcmd.BuildConfigFromFlags("", hubCluster.KubeconfigPath())
	if err != nil {
		b.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	if err := crds.Install(ctx, cfg, time.Minute); err != nil {
		b.Fatal(err)
	}
	admin, err := client.New(cfg, client.Options{Scheme: hubstore.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	rings := []struct {
		name  string
		share int
	}{{"canary", 1}, {"early", 9}, {"broad", 90}}
	groupOf := func(i int) string {
		switch {
		case i < members*rings[0].share/100:
			return rings[0].name
		case i < members*(rings[0].share+rings[1].share)/100:
			return rings[1].name
		}
		return rings[2].name
	}
	work := make(chan int)
	var wg sync.WaitGroup
	var createErr atomic.Value
	for range 16 {
		wg.Go(func() {
			for i := range work {
				c := &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("m%04d", i), Namespace: "default"},
					Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: fmt.Sprintf("m%04d", i)}, Group: groupOf(i)}}
				if err := admin.Create(ctx, c); err != nil {
					createErr.Store(err)
				}
			}
		})
	}
	for i := range members {
		work <- i
	}
	close(work)
	wg.Wait()
	if err, _ := createErr.Load().(error); err != nil {
		b.Fatal(err)
	}
	strategy := &v1alpha1.UpdateStrategySpec{}
	for _, r := range rings {
		strategy.Stages = append(strategy.Stages, v1alpha1.StageSpec{Name: r.name, Groups: []v1alpha1.GroupRef{{Name: r.name}}, MaxConcurrency: ptrTo(intstr.FromString("25%"))})
	}

	var requests atomic.Int64
	var mu sync.Mutex
	verbs := map[string]int{}
	ctrlCfg := rest.CopyConfig(cfg)
	ctrlCfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return countingTransport{next: rt, mu: &mu, verbs: verbs, total: &requests}
	})
	provider := &instant{}
	hubDone := make(chan error, 1)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	go func() {
		hubDone <- hub.Run(ctx, ctrlCfg, hub.Options{Namespace: "default", Identity: "bench", LeaseDuration: 15 * time.Second,
			NewEngine: func(clusters []v1alpha1.Cluster, runs store.Runs) *engine.Engine {
				return &engine.Engine{Store: runs, Fleet: clusters, Poll: 100 * time.Millisecond,
					Resolve: func(c v1alpha1.Cluster) (*engine.Member, error) {
						return &engine.Member{Provider: provider, Name: c.Name}, nil
					}}
			}})
	}()
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if in := m.HeapInuse + m.StackInuse; in > peak.Load() {
					peak.Store(in)
				}
			}
		}
	}()

	b.ResetTimer()
	cpu0, start := cpuTime(), time.Now()
	run := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "scale", Namespace: "default"},
		Spec: v1alpha1.UpdateRunSpec{Strategy: strategy, Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: toolchain.Latest().Minor}}}
	if err := admin.Create(ctx, run); err != nil {
		b.Fatal(err)
	}
	st := &hubstore.Store{Client: admin, Namespace: "default"}
	var final *v1alpha1.UpdateRun
	for {
		select {
		case err := <-hubDone:
			b.Fatalf("the hub stopped: %v", err)
		// Each look reads the whole run (most of a megabyte at 1,000
		// members), in this process: once a second keeps the harness's
		// share of the CPU figure small.
		case <-time.After(time.Second):
		}
		r, err := st.Get("scale")
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			b.Fatal(err)
		}
		if r != nil && r.Status.Phase == v1alpha1.PhaseCompleted {
			final = r
			break
		}
		if r != nil && r.Status.Phase == v1alpha1.PhaseFailed {
			b.Fatalf("the run failed: %s", r.Status.Message)
		}
		if time.Since(start) > 20*time.Minute {
			b.Fatal("the run did not complete in 20 minutes")
		}
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	close(stopSampling)
	cancel()
	<-hubDone

	clusterSteps := 0
	for _, s := range final.Status.Stages {
		for _, c := range s.Clusters {
			clusterSteps += len(c.Steps)
		}
	}
	statusJSON, _ := json.Marshal(final.Status)
	reconciles := 0.0
	if families, err := ctrlmetrics.Registry.Gather(); err == nil {
		for _, f := range families {
			if f.GetName() == "controller_runtime_reconcile_total" {
				for _, m := range f.GetMetric() {
					reconciles += m.GetCounter().GetValue()
				}
			}
		}
	}
	mu.Lock()
	b.Logf("%d members, %d cluster-steps in %s; controller CPU %s (%.2f ms per cluster-step); %d API requests (%.1f per member: %v); %.0f reconciles; status %d KiB; peak heap+stack %.0f MiB (%.0f MiB before the hub started); provider actions %d",
		members, clusterSteps, elapsed.Round(time.Millisecond), cpu.Round(time.Millisecond), float64(cpu.Milliseconds())/float64(clusterSteps),
		requests.Load(), float64(requests.Load())/float64(members), verbs, reconciles, len(statusJSON)/1024,
		float64(peak.Load())/(1<<20), float64(before.HeapInuse+before.StackInuse)/(1<<20), provider.actions.Load())
	mu.Unlock()
	b.ReportMetric(elapsed.Seconds(), "s/run")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(clusterSteps), "cpu-ms/cluster-step")
	b.ReportMetric(float64(requests.Load())/float64(members), "requests/member")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-MiB")
}
