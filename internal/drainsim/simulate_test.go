package drainsim

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/nodepool"
)

const poolLabel = "pool"

func node(name, pool string, extra map[string]string) corev1.Node {
	l := map[string]string{poolLabel: pool, corev1.LabelHostname: name}
	for k, v := range extra {
		l[k] = v
	}
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("110")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

// pod is a Ready pod of a ReplicaSet named after app.
func pod(name, nodeName, app string) corev1.Pod {
	yes := true
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: map[string]string{"app": app},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: app, Controller: &yes}}},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

func budget(name, app string, minAvailable, maxUnavailable *intstr.IntOrString) policyv1.PodDisruptionBudget {
	return policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
		Spec: policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			MinAvailable: minAvailable, MaxUnavailable: maxUnavailable},
	}
}

func count(n int) *intstr.IntOrString { v := intstr.FromInt32(int32(n)); return &v }

func userPool(surge int) Pool {
	return Pool{Name: "user", Selector: labels.SelectorFromSet(labels.Set{poolLabel: "user"}), MaxSurge: intstr.FromInt32(int32(surge))}
}

func threeNodes() []corev1.Node {
	return []corev1.Node{node("node-a", "user", nil), node("node-b", "user", nil), node("node-c", "user", nil), node("sys-1", "system", nil)}
}

func TestSimulateHealthyPool(t *testing.T) {
	snap := &Snapshot{Nodes: threeNodes(),
		Pods: []corev1.Pod{pod("web-1", "node-a", "web"), pod("web-2", "node-b", "web"), pod("web-3", "node-c", "web")},
		PDBs: []policyv1.PodDisruptionBudget{budget("web", "web", nil, count(1))}}
	res, err := Simulate(snap, userPool(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blockers) != 0 || len(res.Warnings) != 0 || res.StopsAt != 0 {
		t.Fatalf("a pool whose budget allows one disruption at a time drains; got blockers %+v, warnings %+v", res.Blockers, res.Warnings)
	}
	if res.Replaced != 3 || res.Evictions != 3 || len(res.Batches) != 3 {
		t.Fatalf("replaced %d, evictions %d, batches %d; want 3, 3, 3", res.Replaced, res.Evictions, len(res.Batches))
	}
	for i, b := range res.Batches {
		if b.Surge != 1 || b.Waves != 1 || len(b.Nodes) != 1 || b.Nodes[0] != []string{"node-a", "node-b", "node-c"}[i] {
			t.Errorf("batch %d = %+v; want one surge node, then the next old node by name", i+1, b)
		}
	}
	// The snapshot is the user's view of the cluster: the replay leaves it.
	if snap.Nodes[0].Spec.Unschedulable || len(snap.Nodes) != 4 || snap.Pods[0].Spec.NodeName != "node-a" {
		t.Error("Simulate changed the snapshot")
	}
}

func TestSimulateNamesABudgetThatNeverYields(t *testing.T) {
	snap := &Snapshot{Nodes: threeNodes(),
		Pods: []corev1.Pod{pod("db-1", "node-b", "db"), pod("db-2", "node-c", "db")},
		PDBs: []policyv1.PodDisruptionBudget{budget("db", "db", count(2), nil)}}
	res, err := Simulate(snap, userPool(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blockers) != 1 {
		t.Fatalf("blockers %+v; want db-1 held by budget db", res.Blockers)
	}
	b := res.Blockers[0]
	if b.Batch != 2 || b.Node != "node-b" || b.Pod != "shop/db-1" || b.Budget != "shop/db" || !strings.Contains(b.Reason, "allows no disruption even when every pod is Ready") {
		t.Errorf("blocker %+v; want batch 2, node-b, shop/db-1, shop/db, no disruption at full health", b)
	}
	if res.StopsAt != 2 || len(res.Batches) != 2 {
		t.Errorf("stops at batch %d after %d batches; the upgrade fails in batch 2", res.StopsAt, len(res.Batches))
	}

	// With undrainableNodeBehavior Cordon the upgrade leaves node-b and
	// goes on: node-c's db-2 is held by the same budget.
	pool := userPool(1)
	pool.OnUndrainable = nodepool.UndrainableCordon
	res, err = Simulate(snap, pool)
	if err != nil {
		t.Fatal(err)
	}
	if res.StopsAt != 0 || len(res.Batches) != 3 || len(res.Blockers) != 2 || res.Blockers[1].Node != "node-c" {
		t.Errorf("with Cordon: stops at %d, %d batches, blockers %+v; want all 3 batches and node-b, node-c blocked", res.StopsAt, len(res.Batches), res.Blockers)
	}
}

func TestSimulateFollowsReplacementsThatFindNoNode(t *testing.T) {
	// Both cache pods may run only where disk=ssd, which node-a alone has
	// (by hand: new nodes will not): once the first is evicted its
	// replacement stays Pending, and the budget never lets the second go.
	nodes := threeNodes()
	nodes[0] = node("node-a", "user", map[string]string{"disk": "ssd"})
	c1, c2 := pod("cache-1", "node-a", "cache"), pod("cache-2", "node-a", "cache")
	c1.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	c2.Spec.NodeSelector = c1.Spec.NodeSelector
	snap := &Snapshot{Nodes: nodes, Pods: []corev1.Pod{c1, c2}, PDBs: []policyv1.PodDisruptionBudget{budget("cache", "cache", count(1), nil)}}
	res, err := Simulate(snap, userPool(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || res.Warnings[0].Pod != "shop/cache-1" || !strings.Contains(res.Warnings[0].Reason, "not matching the pod's node selector") {
		t.Fatalf("warnings %+v; want cache-1's replacement finding no node for its selector", res.Warnings)
	}
	if len(res.Blockers) != 1 || res.Blockers[0].Pod != "shop/cache-2" || !strings.Contains(res.Blockers[0].Reason, "replacement(s) of shop/cache-1") {
		t.Fatalf("blockers %+v; want cache-2 held because cache-1's replacement found no node", res.Blockers)
	}
}

func TestSimulatePlacesByRequestsTaintsAndAntiAffinity(t *testing.T) {
	// Each web pod excludes another on its host. Without surge room the
	// first replacement has nowhere to go; the surge node takes it.
	var pods []corev1.Pod
	for i, n := range []string{"node-a", "node-b", "node-c"} {
		p := pod(fmt.Sprintf("web-%d", i+1), n, "web")
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}}}
		pods = append(pods, p)
	}
	nodes := threeNodes()
	nodes[3].Spec.Taints = []corev1.Taint{{Key: "CriticalAddonsOnly", Value: "true", Effect: corev1.TaintEffectNoSchedule}}
	snap := &Snapshot{Nodes: nodes, Pods: pods}
	res, err := Simulate(snap, userPool(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("with a surge node per batch every replacement has a host; got %+v", res.Warnings)
	}

	// A big pod that fits no node left: sys-1 is tainted, the pool's
	// other nodes and the surge node are full.
	big := pod("batch-1", "node-a", "batch")
	big.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1900m")
	filler := []corev1.Pod{pod("fill-b", "node-b", "fill"), pod("fill-c", "node-c", "fill")}
	for i := range filler {
		filler[i].Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1")
	}
	snap = &Snapshot{Nodes: nodes, Pods: append([]corev1.Pod{big}, filler...)}
	pool := userPool(3)
	res, err = Simulate(snap, pool)
	if err != nil {
		t.Fatal(err)
	}
	// maxSurge 3: three surge nodes come first, so everything fits.
	if len(res.Warnings) != 0 {
		t.Errorf("three surge nodes of 2 CPU hold 1.9 + 1 + 1: got %+v", res.Warnings)
	}
	// node-d, which a stopped run cordoned, goes first: the first of its
	// pods takes the surge node, and the second fits nowhere.
	snap.Nodes = append(snap.Nodes, node("node-d", "user", nil))
	snap.Nodes[4].Spec.Unschedulable = true
	d0, d1 := pod("fill-d0", "node-d", "fill"), pod("fill-d1", "node-d", "fill")
	d1.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1950m")
	snap.Pods = append(snap.Pods, d0, d1)
	pool.MaxSurge = intstr.FromInt32(1)
	res, err = Simulate(snap, pool)
	if err != nil {
		t.Fatal(err)
	}
	if res.Batches[0].Nodes[0] != "node-d" {
		t.Errorf("the first batch is %v; a node a stopped run cordoned is drained first", res.Batches[0].Nodes)
	}
	var why string
	for _, w := range res.Warnings {
		if w.Pod == "shop/fill-d1" {
			why = w.Reason
		}
	}
	for _, want := range []string{"Insufficient cpu", "untolerated taint CriticalAddonsOnly=true:NoSchedule", "cordoned for the upgrade"} {
		if !strings.Contains(why, want) {
			t.Errorf("fill-d1's replacement: %q; want it to say %q", why, want)
		}
	}
}

func TestSimulateOverlappingBudgetsAndUnreadyPods(t *testing.T) {
	api1 := pod("api-1", "node-a", "api")
	api2 := pod("api-2", "node-b", "api")
	api2.Status.Conditions[0].Status = corev1.ConditionFalse
	both := budget("all", "api", count(1), nil)
	snap := &Snapshot{Nodes: threeNodes(), Pods: []corev1.Pod{api1, api2, pod("api-3", "node-c", "api")},
		PDBs: []policyv1.PodDisruptionBudget{budget("api", "api", count(2), nil)}}
	// api-1 goes (3 pods, 2 Ready, needs 2: no) ... the budget is short.
	res, err := Simulate(snap, userPool(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blockers) == 0 || res.Blockers[0].Pod != "shop/api-1" || !strings.Contains(res.Blockers[0].Reason, "some of its pods are not Ready") {
		t.Errorf("blockers %+v; want api-1 held while api-2 is not Ready", res.Blockers)
	}
	snap.PDBs = append(snap.PDBs, both)
	res, err = Simulate(snap, userPool(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blockers) == 0 || !strings.Contains(res.Blockers[0].Reason, "more than one budget") {
		t.Errorf("blockers %+v; want the two budgets named", res.Blockers)
	}
}

func TestPredict(t *testing.T) {
	res := &Result{Batches: []Batch{{Number: 1, Surge: 2, Waves: 1}, {Number: 2, Surge: 2}, {Number: 3, Waves: 1}}}
	tm := Timings{NodeReady: Figure{P50: time.Minute, P95: 3 * time.Minute}, Drain: Figure{P50: 2 * time.Minute, P95: 5 * time.Minute}}
	p := Predict(res, Pool{Soak: time.Minute}, tm)
	if p.Expected != 11*time.Minute || p.AtWorst != 24*time.Minute || p.Fails {
		t.Errorf("expected %s, at worst %s; want 11m (2×1m ready, 3×2m drain, 3×1m soak) and 24m", p.Expected, p.AtWorst)
	}
	res.BudgetWaves = 5 // a budget lets a fifth of its pods go at a time
	if p := Predict(res, Pool{}, tm); p.Expected != 10*time.Minute || p.AtWorst != 25*time.Minute {
		t.Errorf("5 budget waves: %s, at worst %s; want 10m (5×2m drain, more than the nodes' 8m) and 25m", p.Expected, p.AtWorst)
	}
	res.BudgetWaves = 0
	res.Batches[2].Blocked, res.StopsAt = true, 3
	p = Predict(res, Pool{DrainTimeout: 10 * time.Minute}, tm)
	if p.Expected != 16*time.Minute || !p.Fails {
		t.Errorf("a blocked batch waits out the drain timeout: %s, fails %v; want 16m, true", p.Expected, p.Fails)
	}
}

func TestHistory(t *testing.T) {
	d := func(x time.Duration) metav1.Duration { return metav1.Duration{Duration: x} }
	run := func(phase string, recs ...v1alpha1.NodePoolRecord) *v1alpha1.UpdateRun {
		c := v1alpha1.StageClusterStatus{}
		for _, r := range recs {
			c.Steps = append(c.Steps, v1alpha1.StepStatus{Kind: "NodePool", Phase: phase, NodePool: &r})
		}
		return &v1alpha1.UpdateRun{Status: v1alpha1.UpdateRunStatus{Stages: []v1alpha1.StageStatus{{Clusters: []v1alpha1.StageClusterStatus{c}}}}}
	}
	rec := func(p50, p95 time.Duration) v1alpha1.NodePoolRecord {
		return v1alpha1.NodePoolRecord{Provider: "local", NodeReadyP50: d(p50 / 10), NodeReadyP95: d(p95 / 10), DrainP50: d(p50), DrainP95: d(p95)}
	}
	timings := History([]*v1alpha1.UpdateRun{
		run(v1alpha1.PhaseCompleted, rec(4*time.Second, 6*time.Second), rec(8*time.Second, 9*time.Second)),
		run(v1alpha1.PhaseCompleted, rec(6*time.Second, 30*time.Second)),
		run(v1alpha1.PhaseFailed, rec(time.Hour, time.Hour)), // a failed step measured nothing whole
	})
	got := timings("local")
	if got.Drain.P50 != 6*time.Second || got.Drain.P95 != 30*time.Second || got.NodeReady.P50 != 600*time.Millisecond {
		t.Errorf("local timings %+v; want drain p50 6s (median of 4, 6, 8), p95 30s, node ready 600ms", got)
	}
	if !strings.Contains(got.Drain.Source, "(3 pool upgrade(s))") {
		t.Errorf("source %q does not say how many upgrades it comes from", got.Drain.Source)
	}
	if aks := timings("aks"); aks != DefaultTimings("aks") || !strings.Contains(aks.Drain.Source, "default") {
		t.Errorf("a provider with no record: %+v; want the defaults, said so", aks)
	}
}

func TestFit(t *testing.T) {
	res := &Result{Replaced: 120, MaxSurge: 12, Duration: &Prediction{Expected: 6*time.Hour + 40*time.Minute, AtWorst: 9 * time.Hour}}
	f := Fit(res, "the maintenance window (daily at 01:00)", 4*time.Hour)
	if f.Fits || f.Message != "does not fit: 120 node(s) at maxSurge 12 need about 6h40m (at worst 9h); the maintenance window (daily at 01:00) lasts 4h, so the pool's upgrade would run about 2h40m past its close: raise maxSurge, lengthen the window, or split the pool" {
		t.Errorf("%+v", f)
	}
	if f := Fit(res, "w", 8*time.Hour); !f.Fits || !strings.HasPrefix(f.Message, "fits if steps take their median") {
		t.Errorf("%+v", f)
	}
	if f := Fit(res, "w", 10*time.Hour); !f.Fits || !strings.HasPrefix(f.Message, "fits: ") {
		t.Errorf("%+v", f)
	}
}

func TestShort(t *testing.T) {
	for d, want := range map[time.Duration]string{6*time.Hour + 40*time.Minute + 10*time.Second: "6h40m", 4 * time.Hour: "4h", 250 * time.Second: "4m10s", 12 * time.Minute: "12m", 12340 * time.Millisecond: "12.3s"} {
		if got := Short(d); got != want {
			t.Errorf("Short(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestSimulateCountsWavesOfEvictions(t *testing.T) {
	// Six nodes, two web pods on each, a budget allowing 3 of the 12 to
	// be away: draining 3 nodes at once evicts 6 pods, in 2 waves.
	var nodes []corev1.Node
	var pods []corev1.Pod
	for i := range 6 {
		name := fmt.Sprintf("node-%d", i)
		nodes = append(nodes, node(name, "user", nil))
		pods = append(pods, pod(fmt.Sprintf("web-%da", i), name, "web"), pod(fmt.Sprintf("web-%db", i), name, "web"))
	}
	snap := &Snapshot{Nodes: nodes, Pods: pods, PDBs: []policyv1.PodDisruptionBudget{budget("web", "web", nil, count(3))}}
	res, err := Simulate(snap, userPool(3))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Batches) != 2 || res.Batches[0].Waves != 2 || res.Batches[1].Waves != 2 || len(res.Blockers) != 0 {
		t.Errorf("batches %+v, blockers %+v; want 2 batches of 2 waves", res.Batches, res.Blockers)
	}
	if res.BudgetWaves != 4 {
		t.Errorf("budget waves %d; want 4 (12 evictions, 3 at a time)", res.BudgetWaves)
	}
}

func TestSimulatePlacesByPodAffinityAndTopologySpread(t *testing.T) {
	// api pods must run in the zone of a cache pod; the only cache pod
	// may run only on node-a (disk=ssd, by hand): once it is evicted its
	// replacement finds no node, and api-1's, evicted from node-b next,
	// finds no cache pod's zone to go to.
	zone := func(n corev1.Node, z string) corev1.Node { n.Labels[corev1.LabelTopologyZone] = z; return n }
	nodes := []corev1.Node{zone(node("node-a", "user", map[string]string{"disk": "ssd"}), "z1"), zone(node("node-b", "user", nil), "z2"), zone(node("sys-1", "system", nil), "z2")}
	cache := pod("cache-1", "node-a", "cache")
	cache.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	api := pod("api-1", "node-b", "api")
	api.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
		TopologyKey: corev1.LabelTopologyZone, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cache"}}}}}}
	res, err := Simulate(&Snapshot{Nodes: nodes, Pods: []corev1.Pod{cache, api}}, userPool(1))
	if err != nil {
		t.Fatal(err)
	}
	var why string
	for _, w := range res.Warnings {
		if w.Pod == "shop/api-1" {
			why = w.Reason
		}
	}
	if !strings.Contains(why, "not in a domain of the pods the pod's affinity requires") {
		t.Errorf("api-1's replacement: %q (warnings %+v); want its pod affinity named", why, res.Warnings)
	}

	// A pod that is the first of its group (it matches its own term and
	// no other pod does) may go anywhere, as the scheduler allows.
	solo := pod("solo-1", "node-a", "solo")
	solo.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
		TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "solo"}}}}}}
	res, err = Simulate(&Snapshot{Nodes: nodes, Pods: []corev1.Pod{solo}}, userPool(1))
	if err != nil || len(res.Warnings) != 0 {
		t.Errorf("the first pod of its own affinity group: %+v, %v", res.Warnings, err)
	}

	// web spreads over zones with maxSkew 1, two pods in z1 and z2 each,
	// z3 empty but for sys-2: the replacements of node-a's pods must go
	// to z3, and sys-2 is tainted for system pods alone, so they fit
	// nowhere. With z3 open the spread holds: the domains of the nodes
	// being drained (the scheduler counts them until they are deleted)
	// do not hold a replacement Pending for good.
	nodes = []corev1.Node{zone(node("node-a", "user", nil), "z1"), zone(node("node-b", "user", nil), "z2"), zone(node("sys-2", "system", nil), "z3")}
	nodes[2].Spec.Taints = []corev1.Taint{{Key: "CriticalAddonsOnly", Value: "true", Effect: corev1.TaintEffectNoSchedule}}
	var pods []corev1.Pod
	for i, n := range []string{"node-a", "node-a", "node-b", "node-b"} {
		p := pod(fmt.Sprintf("web-%d", i+1), n, "web")
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone,
			WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
		pods = append(pods, p)
	}
	pool := Pool{Name: "user", Selector: labels.SelectorFromSet(labels.Set{poolLabel: "user"}), MaxSurge: intstr.FromInt32(1)}
	res, err = Simulate(&Snapshot{Nodes: nodes, Pods: pods}, pool)
	if err != nil {
		t.Fatal(err)
	}
	spread := 0
	for _, w := range res.Warnings {
		if strings.Contains(w.Reason, "over the pod's topology spread (maxSkew 1 by "+corev1.LabelTopologyZone+")") ||
			strings.Contains(w.Reason, "missing the label "+corev1.LabelTopologyZone) {
			spread++
		}
	}
	if spread == 0 {
		t.Errorf("warnings %+v; want replacements held by the topology spread", res.Warnings)
	}
	nodes[2].Spec.Taints = nil
	res, err = Simulate(&Snapshot{Nodes: nodes, Pods: pods}, pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range res.Warnings {
		if strings.Contains(w.Reason, "over the pod's topology spread") {
			t.Errorf("with z3 open the spread holds: %+v", w)
		}
	}
}
