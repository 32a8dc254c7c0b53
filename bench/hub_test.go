package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
	"upshift.dev/upshift/internal/dashboard"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/hub"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/providers/cluster/instant"
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

// benchHub is a real hub cluster with upshift's CRDs, for a hub
// controller the benchmark runs in its own process.
type benchHub struct {
	// admin is the harness's client; controller is the controller's
	// config, whose API requests are counted.
	admin      client.Client
	controller *rest.Config
	requests   atomic.Int64
	mu         sync.Mutex
	verbs      map[string]int
}

// upBenchHub brings up the hub cluster name with upshift's CRDs.
func upBenchHub(b *testing.B, ctx context.Context, name string) *benchHub {
	hubCluster := testfleet.Up(b, localfleet.Spec{Name: name, KubernetesVersion: toolchain.Latest().Minor})
	cfg, err := clientcmd.BuildConfigFromFlags("", hubCluster.KubeconfigPath())
	if err != nil {
		b.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	if err := crds.Install(ctx, cfg, time.Minute); err != nil {
		b.Fatal(err)
	}
	h := &benchHub{verbs: map[string]int{}}
	if h.admin, err = client.New(cfg, client.Options{Scheme: hubstore.Scheme()}); err != nil {
		b.Fatal(err)
	}
	h.controller = rest.CopyConfig(cfg)
	h.controller.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return countingTransport{next: rt, mu: &h.mu, verbs: h.verbs, total: &h.requests}
	})
	return h
}

// instantEngines are the hub's engines over a provider that completes
// every action at once.
func instantEngines(provider *instant.Provider) func([]v1alpha1.Cluster, store.Runs) *engine.Engine {
	return func(clusters []v1alpha1.Cluster, runs store.Runs) *engine.Engine {
		return &engine.Engine{Store: runs, Fleet: clusters, Poll: 100 * time.Millisecond,
			Resolve: func(c v1alpha1.Cluster) (*engine.Member, error) {
				return &engine.Member{Provider: provider, Name: c.Name}, nil
			}}
	}
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
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	h := upBenchHub(b, ctx, "bench-hub")
	admin, ctrlCfg := h.admin, h.controller
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

	requests, mu, verbs := &h.requests, &h.mu, h.verbs
	provider := &instant.Provider{}
	// $UPSHIFT_BENCH_DASHBOARDS open dashboards (each reloads the runs
	// page and the run's page every second, as a browser's live view
	// reads them) are served by the hub from its watch cache: the API
	// requests per minute should not move with them.
	dashboards, _ := strconv.Atoi(os.Getenv("UPSHIFT_BENCH_DASHBOARDS"))
	var pages atomic.Int64
	serve := func(cache client.Reader) (func(), error) {
		ctrlClient, err := client.New(ctrlCfg, client.Options{Scheme: hubstore.Scheme()})
		if err != nil {
			return nil, err
		}
		token := dashboard.NewToken()
		srv := httptest.NewServer((&dashboard.Server{Runs: hubstore.CachedReads{Store: &hubstore.Store{Client: ctrlClient, Namespace: "default"}, Cache: cache}, Token: token}).Handler())
		stop := make(chan struct{})
		var readers sync.WaitGroup
		for range dashboards {
			readers.Go(func() {
				for {
					for _, path := range []string{"/", "/runs/scale"} {
						req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
						req.Header.Set("Authorization", "Bearer "+token)
						if resp, err := srv.Client().Do(req); err == nil {
							_, _ = io.Copy(io.Discard, resp.Body)
							_ = resp.Body.Close()
							if resp.StatusCode == http.StatusOK {
								pages.Add(1)
							}
						}
					}
					select {
					case <-stop:
						return
					case <-time.After(time.Second):
					}
				}
			})
		}
		return func() { close(stop); readers.Wait(); srv.Close() }, nil
	}
	if dashboards == 0 {
		serve = nil
	}
	hubDone := make(chan error, 1)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	go func() {
		hubDone <- hub.Run(ctx, ctrlCfg, hub.Options{Namespace: "default", Identity: "bench", LeaseDuration: 15 * time.Second, Serve: serve,
			NewEngine: instantEngines(provider)})
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
	for {
		select {
		case err := <-hubDone:
			b.Fatalf("the hub stopped: %v", err)
		// Each look reads the run object alone (its members stay on the
		// API server), once a second: the harness's share of the CPU
		// figure stays small.
		case <-time.After(time.Second):
		}
		r := &v1alpha1.UpdateRun{}
		if err := admin.Get(ctx, client.ObjectKeyFromObject(run), r); err != nil {
			b.Fatal(err)
		}
		if r.Status.Phase == v1alpha1.PhaseCompleted {
			break
		}
		if r.Status.Phase == v1alpha1.PhaseFailed {
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

	// The run as upshift reads it: every cluster back in its stage.
	final, err := (&hubstore.Store{Client: admin, Namespace: "default"}).Get("scale")
	if err != nil {
		b.Fatal(err)
	}
	clusterSteps, clusters := 0, 0
	for _, s := range final.Status.Stages {
		for _, c := range s.Clusters {
			clusters++
			clusterSteps += len(c.Steps)
			if c.Phase != v1alpha1.PhaseCompleted {
				b.Errorf("cluster %s: %s", c.Name, c.Phase)
			}
		}
	}
	if clusters != members {
		b.Fatalf("the run read back holds %d clusters of %d", clusters, members)
	}
	// What the API server stores: the run, and one UpdateRunMember per
	// cluster; none may come near the 1 MiB object limit.
	raw := &v1alpha1.UpdateRun{}
	if err := admin.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "scale"}, raw); err != nil {
		b.Fatal(err)
	}
	runJSON, _ := json.Marshal(raw)
	var stored v1alpha1.UpdateRunMemberList
	if err := admin.List(context.Background(), &stored, client.InNamespace("default"), client.MatchingLabels{hubstore.LabelRun: "scale"}); err != nil {
		b.Fatal(err)
	}
	largest := 0
	for i := range stored.Items {
		data, _ := json.Marshal(&stored.Items[i])
		largest = max(largest, len(data))
	}
	if len(stored.Items) != members || len(runJSON) > 1<<20 || largest > 1<<20 {
		b.Fatalf("%d UpdateRunMembers for %d members; the run object is %d bytes, the largest member %d", len(stored.Items), members, len(runJSON), largest)
	}
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
	b.Logf("%d members (%d dashboards open, %d pages served), %d cluster-steps in %s; %.0f API requests per minute; controller CPU %s (%.2f ms per cluster-step); %d API requests (%.1f per member: %v); %.0f reconciles; the run object %d KiB, the largest UpdateRunMember %d bytes; peak heap+stack %.0f MiB (%.0f MiB before the hub started); provider actions %d",
		members, dashboards, pages.Load(), clusterSteps, elapsed.Round(time.Millisecond), float64(requests.Load())/elapsed.Minutes(), cpu.Round(time.Millisecond), float64(cpu.Milliseconds())/float64(clusterSteps),
		requests.Load(), float64(requests.Load())/float64(members), verbs, reconciles, len(runJSON)/1024, largest,
		float64(peak.Load())/(1<<20), float64(before.HeapInuse+before.StackInuse)/(1<<20), provider.Actions.Load())
	mu.Unlock()
	b.ReportMetric(elapsed.Seconds(), "s/run")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(clusterSteps), "cpu-ms/cluster-step")
	b.ReportMetric(float64(requests.Load())/float64(members), "requests/member")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-MiB")
	b.ReportMetric(float64(len(runJSON))/1024, "run-object-KiB")
	b.ReportMetric(float64(requests.Load())/elapsed.Minutes(), "requests/min")
}
