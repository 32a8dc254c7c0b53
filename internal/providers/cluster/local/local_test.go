package local_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/nodepool"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/cluster/local"
	"upshift.dev/upshift/internal/sampleapp"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) { testfleet.Main(m) }

var (
	lower  = toolchain.Previous()
	higher = toolchain.Latest()
)

// TestNodePoolUpgrade upgrades a cluster the way users do: control plane
// first, then the node pool with surge nodes and PDB-respecting drains,
// while a sampler watches that the app never drops below its budget.
func TestNodePoolUpgrade(t *testing.T) {
	ctx := t.Context()
	p := local.New(testfleet.Fleet(t))
	testfleet.Up(t, localfleet.Spec{Name: "pools", KubernetesVersion: lower.Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 4}}})
	c, err := p.Fleet.Get("pools")
	if err != nil {
		t.Fatal(err)
	}
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	app := sampleapp.App{Namespace: "shop", Name: "web", Host: "web.example", Replicas: 6, MinAvailable: 5}
	if err := app.Deploy(ctx, client); err != nil {
		t.Fatal(err)
	}
	if err := app.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	before := nodeNames(t, p, "pools")

	_, err = p.UpgradeNodePool(ctx, "pools", "user", cluster.NodePoolUpgrade{KubernetesVersion: higher.Minor})
	if err == nil || !strings.Contains(err.Error(), "newer than the control plane") {
		t.Fatalf("node pool ahead of the control plane: %v", err)
	}
	if err := p.UpgradeControlPlane(ctx, "pools", higher.Minor); err != nil {
		t.Fatal(err)
	}

	// Sample availability through the whole node upgrade.
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	minReady, samples := int(app.Replicas), 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for sampleCtx.Err() == nil {
			if n, err := app.ReadyPods(sampleCtx, client); err == nil {
				minReady = min(minReady, n)
				samples++
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var events []nodepool.Event
	res, err := p.UpgradeNodePool(ctx, "pools", "user", cluster.NodePoolUpgrade{
		KubernetesVersion: higher.Minor, NodeImage: "ubuntu-2204-2025.02",
		MaxSurge: intstr.FromString("50%"), DrainTimeout: 2 * time.Minute,
		Events: func(e nodepool.Event) { events = append(events, e) },
	})
	stopSampling()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Replaced != 4 || res.Batches < 2 || res.Batches > 4 {
		t.Errorf("replaced %d nodes in %d batches; want 4 in 2 to 4 (a window of maxSurge 50%% of 4, refilled as each drain ends)", res.Replaced, res.Batches)
	}
	if samples < 10 || minReady < int(app.MinAvailable) {
		t.Errorf("ready pods fell to %d during the upgrade (%d samples); the PDB asks for %d", minReady, samples, app.MinAvailable)
	}
	t.Logf("node upgrade: %d nodes in %s, min ready pods %d over %d samples", res.Replaced, res.Duration, minReady, samples)

	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 4 {
		t.Errorf("pool has %d nodes after the upgrade, want 4", len(list.Items))
	}
	for _, n := range list.Items {
		if before[n.Name] {
			t.Errorf("node %s was not replaced", n.Name)
		}
		if n.Status.NodeInfo.KubeletVersion != higher.Version || n.Labels[localfleet.LabelNodeImage] != "ubuntu-2204-2025.02" || n.Spec.Unschedulable {
			t.Errorf("node %s: %s %s unschedulable=%v", n.Name, n.Status.NodeInfo.KubeletVersion, n.Labels[localfleet.LabelNodeImage], n.Spec.Unschedulable)
		}
	}
	if err := app.WaitAvailable(ctx, client, time.Minute); err != nil {
		t.Error(err)
	}
	got, err := p.Get(ctx, "pools")
	if err != nil {
		t.Fatal(err)
	}
	if got.KubernetesVersion != higher.Version || got.NodePools[0].KubernetesVersion != higher.Version || got.NodePools[0].NodeImage != "ubuntu-2204-2025.02" || got.NodePools[0].Count != 4 {
		t.Errorf("cluster after upgrade: %+v", got)
	}
	steps := map[string]int{}
	for _, e := range events {
		steps[e.Step]++
	}
	// Each old node is deleted on its own, as soon as it is empty; each
	// filling of the window drains.
	if steps["Surge"] < 1 || steps["Drain"] != res.Batches || steps["Delete"] != 4 || steps["Done"] != 1 {
		t.Errorf("events by step = %v", steps)
	}

	// Upgrading a pool already at the target changes nothing.
	res, err = p.UpgradeNodePool(ctx, "pools", "user", cluster.NodePoolUpgrade{KubernetesVersion: higher.Minor})
	if err != nil || res.Replaced != 0 {
		t.Errorf("second upgrade: %+v, %v", res, err)
	}
}

// TestDrainBlockedByPDB checks that a budget that never allows an eviction
// fails the upgrade after the drain timeout, naming the pods and the budget.
func TestDrainBlockedByPDB(t *testing.T) {
	ctx := t.Context()
	p := local.New(testfleet.Fleet(t))
	testfleet.Up(t, localfleet.Spec{Name: "stuck", KubernetesVersion: lower.Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 1}}})
	c, _ := p.Fleet.Get("stuck")
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	app := sampleapp.App{Namespace: "pay", Name: "ledger", Host: "ledger.example", Replicas: 2, MinAvailable: 2}
	if err := app.Deploy(ctx, client); err != nil {
		t.Fatal(err)
	}
	if err := app.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = p.UpgradeNodePool(ctx, "stuck", "user", cluster.NodePoolUpgrade{NodeImage: "ubuntu-2204-2025.02", DrainTimeout: 5 * time.Second})
	var drainErr *nodepool.DrainError
	if !errors.As(err, &drainErr) {
		t.Fatalf("upgrade with a blocking PDB: %v", err)
	}
	if time.Since(start) > time.Minute {
		t.Errorf("the drain timeout of 5s took %s to fire", time.Since(start))
	}
	msg := err.Error()
	t.Logf("drain error: %s", msg)
	for _, want := range []string{"pay/ledger-", "PodDisruptionBudget pay/ledger", "minAvailable 2", "allows 0 disruptions", "within 5s"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if len(drainErr.Blockers) != 2 {
		t.Errorf("blockers = %+v, want the 2 pods", drainErr.Blockers)
	}
	if n, _ := app.ReadyPods(ctx, client); n != 2 {
		t.Errorf("%d ready pods after the failed drain, want 2", n)
	}
	// undrainableNodeBehavior Schedule (the default): the node takes pods again.
	old, err := client.CoreV1().Nodes().Get(ctx, drainErr.Nodes[0], metav1.GetOptions{})
	if err != nil || old.Spec.Unschedulable {
		t.Errorf("undrainable node after a Schedule failure: unschedulable=%v, %v", old.Spec.Unschedulable, err)
	}

	// undrainableNodeBehavior Cordon: the node is quarantined and the
	// upgrade goes on without it.
	res, err := p.UpgradeNodePool(ctx, "stuck", "user", cluster.NodePoolUpgrade{NodeImage: "ubuntu-2204-2025.02", DrainTimeout: 3 * time.Second, OnUndrainable: nodepool.UndrainableCordon})
	if err != nil {
		t.Fatalf("upgrade with Cordon: %v", err)
	}
	if len(res.Quarantined) != 1 || res.Quarantined[0] != old.Name {
		t.Errorf("quarantined = %v, want [%s]", res.Quarantined, old.Name)
	}
	old, err = client.CoreV1().Nodes().Get(ctx, old.Name, metav1.GetOptions{})
	if err != nil || !old.Spec.Unschedulable || old.Labels[nodepool.LabelQuarantined] != "quarantined" {
		t.Errorf("quarantined node: unschedulable=%v labels=%v, %v", old.Spec.Unschedulable, old.Labels, err)
	}
	if n, _ := app.ReadyPods(ctx, client); n != 2 {
		t.Errorf("%d ready pods after quarantine, want 2", n)
	}
}

func nodeNames(t *testing.T, p *local.Provider, name string) map[string]bool {
	t.Helper()
	c, _ := p.Fleet.Get(name)
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	list, err := client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, n := range list.Items {
		out[n.Name] = true
	}
	return out
}

// TestDeleteIsIdempotent: a delete cut short (the cluster went, its
// record did not) can be redone, as T4 of a resumed blue-green run does.
func TestDeleteIsIdempotent(t *testing.T) {
	p := local.New(testfleet.Fleet(t))
	if err := p.Delete(t.Context(), "never-was"); err != nil {
		t.Fatalf("deleting a cluster that is gone: %v", err)
	}
}

// TestSoakWaitsForReadyPods: with nodeSoak.readyPods the soak after each
// node waits for the evicted pods' workloads to be Ready again, and a
// workload that never recovers on the new nodes fails the upgrade, named.
func TestSoakWaitsForReadyPods(t *testing.T) {
	ctx := t.Context()
	p := local.New(testfleet.Fleet(t))
	c := testfleet.Up(t, localfleet.Spec{Name: "soaking", KubernetesVersion: lower.Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	web := sampleapp.App{Namespace: "shop", Name: "web", Host: "web.example", Replicas: 2}
	if err := web.Deploy(ctx, client); err != nil {
		t.Fatal(err)
	}
	if err := web.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	// The pool recovers web: the readiness soak lets every node go.
	var soaks []string
	res, err := p.UpgradeNodePool(ctx, "soaking", "user", cluster.NodePoolUpgrade{NodeImage: "ubuntu-2204-2025.02", SoakReadyPods: true, SoakReadyTimeout: time.Minute,
		Events: func(e nodepool.Event) {
			if e.Step == "Soak" {
				soaks = append(soaks, e.Message)
			}
		}})
	if err != nil || res.Replaced != 2 {
		t.Fatalf("upgrade with a readiness soak: %+v, %v", res, err)
	}
	if len(soaks) != 2 || !strings.Contains(soaks[0], "to be back at their Ready replicas") {
		t.Errorf("soak events %q; want one readiness wait per node", soaks)
	}

	// legacy may run only where a person put a label by hand: its pods
	// never come back once the old nodes are gone.
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		n.Labels["legacy"] = "yes"
		if _, err := client.CoreV1().Nodes().Update(ctx, &n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	legacy := web
	legacy.Name, legacy.Host = "legacy", "legacy.example"
	d := legacy.Deployment()
	d.Spec.Template.Spec.NodeSelector = map[string]string{"legacy": "yes"}
	if _, err := client.AppsV1().Deployments("shop").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := legacy.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err = p.UpgradeNodePool(ctx, "soaking", "user", cluster.NodePoolUpgrade{NodeImage: "ubuntu-2204-2025.03", SoakReadyPods: true, SoakReadyTimeout: 3 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "ReplicaSet shop/legacy-") || !strings.Contains(err.Error(), "of 2 pods Ready") || !strings.Contains(err.Error(), "after 3s") {
		t.Fatalf("upgrade whose workload never recovers: %v; want the ReplicaSet named with its Ready pods", err)
	}
	t.Logf("upgrade error: %v", err)
	if strings.Contains(err.Error(), "web-") {
		t.Errorf("web recovered, yet the error names it: %v", err)
	}
}

// TestUndrainableEscalation: a budget that never yields holds the drain
// until the escalation (undrainable.then DeletePod) deletes the pods it
// alone keeps, audited in the events, and the upgrade finishes with the
// app back; a pod with emptyDir data is deleted only with allowLocalData,
// and without it the upgrade fails naming it.
func TestUndrainableEscalation(t *testing.T) {
	ctx := t.Context()
	p := local.New(testfleet.Fleet(t))
	c := testfleet.Up(t, localfleet.Spec{Name: "escalate", KubernetesVersion: lower.Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 1}}})
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	ledger := sampleapp.App{Namespace: "pay", Name: "ledger", Host: "ledger.example", Replicas: 2, MinAvailable: 2}
	if err := ledger.Deploy(ctx, client); err != nil {
		t.Fatal(err)
	}
	if err := ledger.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	var escalations []string
	up := cluster.NodePoolUpgrade{NodeImage: "ubuntu-2204-2025.02", DrainTimeout: time.Minute, EscalateAfter: 3 * time.Second, DeleteBlockers: true,
		Events: func(e nodepool.Event) {
			if e.Step == "Escalate" {
				escalations = append(escalations, e.Message)
			}
		}}
	res, err := p.UpgradeNodePool(ctx, "escalate", "user", up)
	if err != nil || res.Replaced != 1 {
		t.Fatalf("upgrade with DeletePod after 3s: %+v, %v", res, err)
	}
	t.Logf("escalations: %q", escalations)
	if len(escalations) != 2 || !strings.Contains(escalations[0], "deleting pod pay/ledger-") || !strings.Contains(escalations[0], "after 3s: PodDisruptionBudget pay/ledger") {
		t.Errorf("escalation events %q; want each ledger pod's deletion, with its budget", escalations)
	}
	if err := ledger.WaitAvailable(ctx, client, time.Minute); err != nil {
		t.Errorf("ledger after the escalation: %v", err)
	}

	// cache keeps data in an emptyDir under a budget of its own.
	cache := sampleapp.App{Namespace: "pay", Name: "cache", Host: "cache.example", Replicas: 1, MinAvailable: 1}
	d := cache.Deployment()
	d.Spec.Template.Spec.Volumes = append(d.Spec.Template.Spec.Volumes, corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	if err := cache.Deploy(ctx, client); err != nil {
		t.Fatal(err)
	}
	if _, err := client.AppsV1().Deployments("pay").Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cache.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	up.NodeImage = "ubuntu-2204-2025.03"
	_, err = p.UpgradeNodePool(ctx, "escalate", "user", up)
	var de *nodepool.DrainError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "undrainable.then DeletePod did not delete pay/cache-") || !strings.Contains(err.Error(), "(emptyDir scratch)") {
		t.Fatalf("upgrade with a pod holding local data: %v", err)
	}
	up.AllowLocalData = true
	if _, err := p.UpgradeNodePool(ctx, "escalate", "user", up); err != nil {
		t.Fatalf("upgrade with allowLocalData: %v", err)
	}
}
