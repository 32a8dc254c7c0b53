package readiness_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/drain"
	"k8s.io/utils/ptr"

	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/sampleapp"
	"upshift.dev/upshift/internal/scan/readiness"
	"upshift.dev/upshift/internal/scan/report"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) { testfleet.Main(m) }

// TestEvictionRefusalsOnARealCluster makes, on a real API server, each
// situation in which the eviction subresource refuses a drain's eviction
// or a drained pod has nowhere to go, shows the refusal (or the Pending
// replacement) happening, and checks that the readiness scan reports it
// before any drain: a pod under two budgets (500, every time), a budget
// over a pod whose controller has no scale (the disruption controller fails to
// compute it: 429 "failed sync", every time), and a workload pinned to
// one node by name.
func TestEvictionRefusalsOnARealCluster(t *testing.T) {
	c := testfleet.Up(t, localfleet.Spec{Name: "evictions", KubernetesVersion: toolchain.Latest().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
	ctx := t.Context()
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	// Two budgets over web's pods: its own, and one over the namespace.
	web := sampleapp.App{Namespace: "shop", Name: "web", Host: "web.example", Replicas: 2, MinAvailable: 1}
	if err := web.Deploy(ctx, client); err != nil {
		t.Fatal(err)
	}
	if err := web.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	create(t, client, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "whole-namespace"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{}}})
	// A pod whose controller has no scale (here a ConfigMap; in real
	// clusters a custom resource without the scale subresource) under a
	// budget that needs its controller's scale.
	create(t, client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "batch"}})
	owner, err := client.CoreV1().ConfigMaps("batch").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "lone-owner"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lone := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "batch", Name: "lone", Labels: map[string]string{"app": "lone"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}}}}
	create(t, client, &lone)
	create(t, client, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "batch", Name: "lone"},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "lone"}}}})
	// A workload pinned to the first node by name.
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: localfleet.LabelNodePool + "=user"})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("nodes: %v", err)
	}
	node := nodes.Items[0].Name
	pinned := sampleapp.App{Namespace: "pinned", Name: "cache", Host: "cache.example", Replicas: 1}
	d := pinned.Deployment()
	d.Spec.Template.Spec.NodeSelector = map[string]string{corev1.LabelHostname: node}
	if err := pinned.Deploy(ctx, client); err != nil {
		t.Fatal(err)
	}
	if _, err := client.AppsV1().Deployments("pinned").Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pinned.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the disruption controller to fail on budget batch/lone", func() bool {
		pdb, err := client.PolicyV1().PodDisruptionBudgets("batch").Get(ctx, "lone", metav1.GetOptions{})
		c := meta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition)
		return err == nil && c != nil && c.Reason == policyv1.SyncFailedReason
	})
	waitUntil(t, "both budgets of shop to count web's pods", func() bool {
		pdb, err := client.PolicyV1().PodDisruptionBudgets("shop").Get(ctx, "whole-namespace", metav1.GetOptions{})
		return err == nil && pdb.Status.ObservedGeneration == pdb.Generation && pdb.Status.ExpectedPods == 2
	})

	// What the scan says, before any drain.
	inv, err := readiness.Load(ctx, "evictions", client, false)
	if err != nil {
		t.Fatal(err)
	}
	byCheck := map[string][]report.Finding{}
	for _, f := range readiness.Run(inv) {
		byCheck[f.Check] = append(byCheck[f.Check], f)
	}
	if got := byCheck["pdb-overlap"]; len(got) != 2 || got[0].Severity != report.SeverityError || !strings.Contains(got[0].Message, "2 PodDisruptionBudgets select it (web, whole-namespace)") {
		t.Errorf("pdb-overlap findings: %+v, want web's 2 pods", got)
	}
	if got := byCheck["pdb-sync-failed"]; len(got) != 1 || got[0].Name != "lone" || !strings.Contains(got[0].Message, "cannot compute it") {
		t.Errorf("pdb-sync-failed findings: %+v", got)
	}
	if got := byCheck["pinned-to-node"]; len(got) != 1 || got[0].Name != "cache" || !strings.Contains(got[0].Message, "only on node "+node) {
		t.Errorf("pinned-to-node findings: %+v", got)
	}

	// What a drain meets.
	pods, err := client.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=web"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("web's pods: %v", err)
	}
	err = evict(ctx, client, "shop", pods.Items[0].Name)
	if status, ok := err.(apierrors.APIStatus); !ok || status.Status().Code != 500 || !strings.Contains(err.Error(), "more than one PodDisruptionBudget") {
		t.Errorf("evicting a pod under two budgets: %v, want the API server's 500", err)
	}
	if err := evict(ctx, client, "batch", "lone"); !apierrors.IsTooManyRequests(err) || !strings.Contains(causes(err), "budget lone") {
		t.Errorf("evicting a pod under a budget that failed to sync: %v (%s), want 429 naming the budget", err, causes(err))
	}
	cordon(t, client, node)
	cachePods, err := client.CoreV1().Pods("pinned").List(ctx, metav1.ListOptions{})
	if err != nil || len(cachePods.Items) != 1 {
		t.Fatalf("the pinned pod: %v", err)
	}
	if err := evict(ctx, client, "pinned", cachePods.Items[0].Name); err != nil {
		t.Fatalf("evicting the pinned pod: %v", err)
	}
	waitUntil(t, "the pinned pod's replacement to be refused every node", func() bool {
		list, err := client.CoreV1().Pods("pinned").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, p := range list.Items {
			for _, c := range p.Status.Conditions {
				if p.DeletionTimestamp == nil && c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
					return true
				}
			}
		}
		return false
	})
}

func create[T interface {
	*corev1.Pod | *corev1.Namespace | *policyv1.PodDisruptionBudget | *corev1.PersistentVolume | *corev1.PersistentVolumeClaim
}](t *testing.T, client kubernetes.Interface, obj T) {
	t.Helper()
	ctx := t.Context()
	var err error
	switch o := any(obj).(type) {
	case *corev1.Pod:
		_, err = client.CoreV1().Pods(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *corev1.Namespace:
		_, err = client.CoreV1().Namespaces().Create(ctx, o, metav1.CreateOptions{})
	case *policyv1.PodDisruptionBudget:
		_, err = client.PolicyV1().PodDisruptionBudgets(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *corev1.PersistentVolume:
		_, err = client.CoreV1().PersistentVolumes().Create(ctx, o, metav1.CreateOptions{})
	case *corev1.PersistentVolumeClaim:
		_, err = client.CoreV1().PersistentVolumeClaims(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// causes are the messages of an API error's causes.
func causes(err error) string {
	status, ok := err.(apierrors.APIStatus)
	if !ok || status.Status().Details == nil {
		return ""
	}
	var out []string
	for _, c := range status.Status().Details.Causes {
		out = append(out, c.Message)
	}
	return strings.Join(out, "; ")
}

func evict(ctx context.Context, client kubernetes.Interface, namespace, pod string) error {
	return client.PolicyV1().Evictions(namespace).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: pod}})
}

func cordon(t *testing.T, client kubernetes.Interface, node string) {
	t.Helper()
	n, err := client.CoreV1().Nodes().Get(t.Context(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Spec.Unschedulable = true
	if _, err := client.CoreV1().Nodes().Update(t.Context(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
	t.Logf("%s: %s", what, time.Since(start).Round(100*time.Millisecond))
}

// TestDrainStallsOnARealCluster makes, on a real API server, each way in
// which kubectl drain's own logic (upshift drains with the same helper)
// waits without end or leaves a pod or its data behind, shows it happening,
// and checks that the readiness scan reports each beforehand: unready pods
// a budget keeps (the eviction API answers 429), a pod held in Terminating
// by a finalizer (the drain waits for it until its timeout), a grace
// period that outlasts the drain timeout, a static pod, and a pod whose
// PersistentVolume lives on one node (its replacement fits no other node).
func TestDrainStallsOnARealCluster(t *testing.T) {
	c := testfleet.Up(t, localfleet.Spec{Name: "drains", KubernetesVersion: toolchain.Latest().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
	ctx := t.Context()
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: localfleet.LabelNodePool + "=user"})
	if err != nil || len(nodes.Items) != 2 {
		t.Fatalf("nodes: %v", err)
	}
	node := nodes.Items[0].Name

	// api: 3 replicas, minAvailable 2, and two of its pods stop being Ready.
	api := sampleapp.App{Namespace: "shop", Name: "api", Host: "api.example", Replicas: 3, MinAvailable: 2}
	if err := api.Deploy(ctx, client); err != nil {
		t.Fatal(err)
	}
	if err := api.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	apiPods, err := client.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=api"})
	if err != nil || len(apiPods.Items) != 3 {
		t.Fatalf("api's pods: %v", err)
	}
	for _, p := range apiPods.Items[:2] {
		for i := range p.Status.Conditions {
			if p.Status.Conditions[i].Type == corev1.PodReady || p.Status.Conditions[i].Type == corev1.ContainersReady {
				p.Status.Conditions[i].Status = corev1.ConditionFalse
			}
		}
		if _, err := client.CoreV1().Pods("shop").UpdateStatus(ctx, &p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "api's budget to count one healthy pod", func() bool {
		pdb, err := client.PolicyV1().PodDisruptionBudgets("shop").Get(ctx, "api", metav1.GetOptions{})
		return err == nil && pdb.Status.ObservedGeneration == pdb.Generation && pdb.Status.CurrentHealthy == 1 && pdb.Status.ExpectedPods == 3
	})

	// held: a pod with a finalizer nobody removes, deleted.
	create(t, client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "jobs"}})
	held := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "jobs", Name: "held", Finalizers: []string{"example.com/hold"}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}}}}
	create(t, client, held)
	t.Cleanup(func() { // let the cluster go down cleanly
		_, _ = client.CoreV1().Pods("jobs").Patch(context.Background(), "held", types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/finalizers"}]`), metav1.PatchOptions{})
	})
	if err := client.CoreV1().Pods("jobs").Delete(ctx, "held", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}

	// slow: pods that may take an hour to stop.
	slow := sampleapp.App{Namespace: "jobs", Name: "slow", Host: "slow.example", Replicas: 2}
	d := slow.Deployment()
	d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](3600)
	if _, err := client.AppsV1().Deployments("jobs").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// agent: a static pod's mirror, as the node's kubelet would post it.
	create(t, client, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "jobs", Name: "agent-" + node,
		Annotations:     map[string]string{corev1.MirrorPodAnnotationKey: "static"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node, UID: nodes.Items[0].UID, Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}}}})

	// ledger: its data on a local volume of the first node.
	create(t, client, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "ledger-ssd"}, Spec: corev1.PersistentVolumeSpec{
		Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
		AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		StorageClassName:       "local-ssd",
		PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/disks/ssd1"}},
		NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}}}},
	}})
	create(t, client, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "jobs", Name: "ledger"}, Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		StorageClassName: ptr.To("local-ssd"),
		VolumeName:       "ledger-ssd",
		Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
	}})
	ledger := sampleapp.App{Namespace: "jobs", Name: "ledger", Host: "ledger.example", Replicas: 1}
	d = ledger.Deployment()
	d.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "ledger"}}}}
	if _, err := client.AppsV1().Deployments("jobs").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := ledger.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
		t.Fatal(err)
	}

	// What the scan says, before any drain.
	inv, err := readiness.Load(ctx, "drains", client, false)
	if err != nil {
		t.Fatal(err)
	}
	byCheck := map[string][]report.Finding{}
	for _, f := range readiness.Run(inv) {
		byCheck[f.Check] = append(byCheck[f.Check], f)
	}
	if got := byCheck["unhealthy-pod-under-pdb"]; len(got) != 2 || got[0].Severity != report.SeverityError || !strings.Contains(got[0].Message, "now (the budget has 1 healthy pod(s), needs 2)") {
		t.Errorf("unhealthy-pod-under-pdb findings: %+v, want api's 2 unready pods, refused now", got)
	}
	if got := byCheck["stuck-terminating"]; len(got) != 1 || got[0].Name != "held" || !strings.Contains(got[0].Message, "held by finalizer(s) example.com/hold") {
		t.Errorf("stuck-terminating findings: %+v", got)
	}
	if got := byCheck["long-grace-period"]; len(got) != 1 || got[0].Name != "slow" || got[0].Severity != report.SeverityError {
		t.Errorf("long-grace-period findings: %+v", got)
	}
	if got := byCheck["static-pod"]; len(got) != 1 || got[0].Name != "agent-"+node {
		t.Errorf("static-pod findings: %+v", got)
	}
	if got := byCheck["node-local-volume"]; len(got) != 1 || !strings.HasPrefix(got[0].Name, "ledger-") || !strings.Contains(got[0].Message, "local volume at /mnt/disks/ssd1 on node "+node) {
		t.Errorf("node-local-volume findings: %+v", got)
	}

	// What a drain meets.
	if err := evict(ctx, client, "shop", apiPods.Items[0].Name); !apierrors.IsTooManyRequests(err) {
		t.Errorf("evicting an unready pod of an unhealthy budget: %v, want 429", err)
	}
	pod, err := client.CoreV1().Pods("jobs").Get(ctx, "held", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	helper := &drain.Helper{Ctx: ctx, Client: client, Force: true, IgnoreAllDaemonSets: true, DeleteEmptyDirData: true, GracePeriodSeconds: -1, Timeout: 3 * time.Second, Out: io.Discard, ErrOut: io.Discard}
	if err := helper.DeleteOrEvictPods([]corev1.Pod{*pod}); err == nil || !strings.Contains(err.Error(), `waiting for pod "held" in namespace "jobs" to terminate`) {
		t.Errorf("draining the held pod: %v, want the drain to wait until its timeout", err)
	}
	cordon(t, client, node)
	ledgerPods, err := client.CoreV1().Pods("jobs").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=ledger"})
	if err != nil || len(ledgerPods.Items) != 1 {
		t.Fatalf("ledger's pod: %v", err)
	}
	if err := evict(ctx, client, "jobs", ledgerPods.Items[0].Name); err != nil {
		t.Fatalf("evicting ledger's pod: %v", err)
	}
	waitUntil(t, "ledger's replacement to fit no node (its volume's node affinity)", func() bool {
		list, err := client.CoreV1().Pods("jobs").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=ledger"})
		if err != nil {
			return false
		}
		for _, p := range list.Items {
			for _, c := range p.Status.Conditions {
				if p.DeletionTimestamp == nil && c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonUnschedulable && strings.Contains(c.Message, "didn't match PersistentVolume's node affinity") {
					return true
				}
			}
		}
		return false
	})
}
