package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/hub"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/providers/cluster/instant"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/toolchain"
)

// BenchmarkHubWaitingRuns applies runs that wait to a hub (in this
// process, against a real kube-apiserver): 10, then 1,000
// ($UPSHIFT_BENCH_RUNS). Even runs wait for their stage's approval, odd
// ones inside their cluster's first step, for an Approval gate. A
// waiting run is parked, not driven, so the hub's goroutines and its API
// requests stay flat however many wait. Then every run is approved, and
// each must wake and complete: parking loses no run.
func BenchmarkHubWaitingRuns(b *testing.B) {
	builtin.Register()
	runs := 1000
	if v, err := strconv.Atoi(os.Getenv("UPSHIFT_BENCH_RUNS")); err == nil && v > 0 {
		runs = v
	}
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	h := upBenchHub(b, ctx, "bench-wait-hub")
	admin := h.admin
	if err := admin.Create(ctx, &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "m0", Namespace: "default"},
		Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: "m0"}, Group: "prod"}}); err != nil {
		b.Fatal(err)
	}
	strategy := &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "prod", Groups: []v1alpha1.GroupRef{{Name: "prod"}},
		BeforeStageTasks: []v1alpha1.StageTask{{Type: v1alpha1.TaskApproval}}}}}
	inStep := &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "prod", Groups: []v1alpha1.GroupRef{{Name: "prod"}}}}}
	approval := func(i int) string {
		if i%2 == 1 {
			return store.ClusterGateKey("m0", "ticket")
		}
		return store.StageKey("prod")
	}

	requests := &h.requests
	hubDone := make(chan error, 1)
	go func() {
		hubDone <- hub.Run(ctx, h.controller, hub.Options{Namespace: "default", Identity: "bench", LeaseDuration: 15 * time.Second,
			NewEngine: instantEngines(&instant.Provider{})})
	}()
	st := &hubstore.Store{Client: admin, Namespace: "default"}
	apply := func(from, to int) {
		work := make(chan int)
		var wg sync.WaitGroup
		var applyErr atomic.Value
		for range 16 {
			wg.Go(func() {
				for i := range work {
					run := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("wait-%04d", i), Namespace: "default"},
						Spec: v1alpha1.UpdateRunSpec{Strategy: strategy, Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: toolchain.Latest().Minor}}}
					if i%2 == 1 {
						run.Spec.Strategy = inStep
						run.Spec.Gates.Preflight = []v1alpha1.GateSpec{{Name: "ticket", Type: v1alpha1.GateApproval}}
					}
					if err := admin.Create(ctx, run); err != nil {
						applyErr.Store(err)
					}
				}
			})
		}
		for i := from; i < to; i++ {
			work <- i
		}
		close(work)
		wg.Wait()
		if err, _ := applyErr.Load().(error); err != nil {
			b.Fatal(err)
		}
	}
	// count waits until n runs are in phase, and says how many are.
	count := func(phase string, n int) {
		deadline := time.Now().Add(15 * time.Minute)
		for {
			select {
			case err := <-hubDone:
				b.Fatalf("the hub stopped: %v", err)
			case <-time.After(time.Second):
			}
			var list v1alpha1.UpdateRunList
			if err := admin.List(ctx, &list, client.InNamespace("default")); err != nil {
				b.Fatal(err)
			}
			got := 0
			for _, r := range list.Items {
				if r.Status.Phase == phase {
					got++
				}
			}
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d runs %s after 15 minutes", got, n, phase)
			}
		}
	}
	// idle measures the hub at rest: its goroutines, and its API requests
	// over 20 s (a run's lease renewals, were it held, would show here).
	idle := func() (goroutines int, perMinute float64) {
		time.Sleep(5 * time.Second)
		before := requests.Load()
		time.Sleep(20 * time.Second)
		return runtime.NumGoroutine(), float64(requests.Load()-before) * 3
	}

	b.ResetTimer()
	apply(0, 10)
	count(v1alpha1.PhaseWaiting, 10)
	g10, r10 := idle()
	start := time.Now()
	apply(10, runs)
	count(v1alpha1.PhaseWaiting, runs)
	parkedIn := time.Since(start)
	gN, rN := idle()
	start = time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range work {
				if err := st.Approve(fmt.Sprintf("wait-%04d", i), store.Approval{Key: approval(i), By: "bench", Time: time.Now()}); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range runs {
		work <- i
	}
	close(work)
	wg.Wait()
	count(v1alpha1.PhaseCompleted, runs)
	woken := time.Since(start)
	b.StopTimer()
	cancel()
	<-hubDone
	b.Logf("goroutines: %d with 10 runs waiting, %d with %d waiting; API requests per minute at rest: %.0f and %.0f; %d runs planned and parked in %s; all approved and completed in %s",
		g10, gN, runs, r10, rN, runs, parkedIn.Round(time.Second), woken.Round(time.Second))
	b.ReportMetric(float64(g10), "goroutines(10-waiting)")
	b.ReportMetric(float64(gN), "goroutines(N-waiting)")
	b.ReportMetric(rN, "idle-requests/min(N-waiting)")
}
