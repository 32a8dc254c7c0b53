package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/nodes"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/cluster/local"
	"upshift.dev/upshift/internal/sampleapp"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) { testfleet.Main(m) }

// BenchmarkLocalUp measures `local up` to Ready with warm binaries (three
// kwok nodes), and the resident memory of the idle cluster it made.
func BenchmarkLocalUp(b *testing.B) {
	fleet := testfleet.Fleet(b)
	ctx := context.Background()
	// Build outside the timer: the figure is for warm binaries.
	for _, bin := range []toolchain.Binary{toolchain.Etcd(), toolchain.Kwok(), toolchain.Kube(toolchain.Releases[0])} {
		if _, err := fleet.Tools.Ensure(ctx, bin); err != nil {
			b.Fatal(err)
		}
	}
	var rss, apiserver float64
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("up-%d", i)
		b.StartTimer()
		c, err := fleet.Up(ctx, localfleet.Spec{Name: name, KubernetesVersion: toolchain.Releases[0].Minor, NodePools: []localfleet.PoolSpec{{Name: "system", Count: 3}}})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		// Let start-up allocations settle before reading idle memory.
		time.Sleep(20 * time.Second)
		mem, err := c.ResidentMemory()
		if err != nil {
			b.Fatal(err)
		}
		var total int64
		for _, v := range mem {
			total += v
		}
		rss += float64(total) / (1 << 20)
		apiserver += float64(mem["kube-apiserver"]) / (1 << 20)
		b.Logf("idle RSS by component (MiB): %v", mib(mem))
		if err := fleet.Down(name); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(rss/float64(b.N), "MiB-rss/cluster")
	b.ReportMetric(apiserver/float64(b.N), "MiB-rss/apiserver")
}

func mib(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		out[k] = v >> 20
	}
	return out
}

// BenchmarkNodePoolUpgrade replaces a 50-node pool carrying 1,000 pods (20
// Deployments of 50 replicas, each with a PodDisruptionBudget of
// minAvailable 45) at two surge settings.
func BenchmarkNodePoolUpgrade(b *testing.B) {
	for _, surge := range []string{"10%", "33%"} {
		b.Run("maxSurge="+surge, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchPoolUpgrade(b, surge, i)
			}
		})
	}
}

func benchPoolUpgrade(b *testing.B, surge string, i int) {
	b.StopTimer()
	ctx := context.Background()
	fleet := testfleet.Fleet(b)
	p := local.New(fleet)
	name := fmt.Sprintf("pool-%s-%d", surge[:2], i)
	c, err := fleet.Up(ctx, localfleet.Spec{Name: name, KubernetesVersion: toolchain.Releases[0].Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 50}},
		UnsafeNoFsync: true}) // as the figures before fsync became the default; the pool upgrade, not the disk, is measured
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = fleet.Down(name) }()
	client, err := c.Client()
	if err != nil {
		b.Fatal(err)
	}
	var apps []sampleapp.App
	for j := range 20 {
		app := sampleapp.App{Namespace: "load", Name: fmt.Sprintf("app-%02d", j), Host: fmt.Sprintf("app-%02d.example", j), Replicas: 50, MinAvailable: 45}
		if err := app.Deploy(ctx, client); err != nil {
			b.Fatal(err)
		}
		apps = append(apps, app)
	}
	for _, app := range apps {
		if err := app.WaitAvailable(ctx, client, 10*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	// Watch the least-available app through the upgrade: every change of
	// a pod recounts its app's ready pods (a watch, so the proof does not
	// load the API server the upgrade is measured against).
	sampleCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var minMu sync.Mutex
	minReady := 50
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace("load"))
	pods := factory.Core().V1().Pods()
	var synced atomic.Bool // the first list adds pods one by one: count from then on
	recount := func(obj any) {
		if !synced.Load() {
			return
		}
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		all, err := pods.Lister().Pods("load").List(labels.SelectorFromSet(labels.Set{"app.kubernetes.io/name": pod.Labels["app.kubernetes.io/name"]}))
		if err != nil {
			return
		}
		ready := 0
		for _, p := range all {
			if p.DeletionTimestamp == nil && podReady(p) {
				ready++
			}
		}
		minMu.Lock()
		minReady = min(minReady, ready)
		minMu.Unlock()
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: recount, UpdateFunc: func(_, n any) { recount(n) }, DeleteFunc: recount}); err != nil {
		b.Fatal(err)
	}
	factory.Start(sampleCtx.Done())
	factory.WaitForCacheSync(sampleCtx.Done())
	synced.Store(true)
	wg.Add(1)
	go func() { defer wg.Done(); <-sampleCtx.Done(); factory.Shutdown() }()
	// Where the time goes: each event's step is charged the time until
	// the next event.
	var events []nodes.Event
	var evMu sync.Mutex
	b.StartTimer()
	res, err := p.UpgradeNodePool(ctx, name, "user", cluster.NodePoolUpgrade{
		NodeImage: "ubuntu-2204-2025.02", MaxSurge: intstr.FromString(surge), DrainTimeout: 10 * time.Minute,
		Events: func(ev nodes.Event) { evMu.Lock(); events = append(events, ev); evMu.Unlock() },
	})
	b.StopTimer()
	spent := map[string]time.Duration{}
	for k := 0; k+1 < len(events); k++ {
		spent[events[k].Step] += events[k+1].Time.Sub(events[k].Time)
	}
	b.Logf("maxSurge %s: time by phase %v", surge, spent)
	stop()
	wg.Wait()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(res.Batches), "batches")
	minMu.Lock()
	defer minMu.Unlock()
	b.ReportMetric(float64(minReady), "min-ready-pods/app")
	b.Logf("maxSurge %s: %d nodes in %d batches in %s; fewest ready pods of any app: %d (PDB minAvailable 45)", surge, res.Replaced, res.Batches, res.Duration.Round(time.Second), minReady)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
