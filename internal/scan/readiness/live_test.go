package readiness_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
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
	*corev1.Pod | *corev1.Namespace | *policyv1.PodDisruptionBudget
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
