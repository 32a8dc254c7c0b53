package bluegreen

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/nodes"
	"upshift.dev/upshift/internal/providers/cluster"
)

// heartbeatAge is how old a kubelet's last sign of life may be for it to
// count as posting: its node Lease's renewal (every 10 s of a 40 s lease)
// or, for a kubelet without a lease, its status heartbeat. A kubelet with
// a lease posts status only every 5 minutes, so status alone would call
// healthy nodes stale.
const heartbeatAge = 2 * time.Minute

// validatePlatform checks green on three levels, waiting up to 3 minutes
// for it to settle: (1) the cluster and its nodes are Ready, at the
// versions asked, with blue's pools; (2) the API server's /readyz and
// /livez pass and every kubelet posts status; (3) system workloads are
// available.
func validatePlatform(ctx context.Context, p cluster.Provider, c Cluster, version string, pools []v1alpha1.NodePoolStatus) (string, error) {
	client, err := kubernetes.NewForConfig(c.RESTConfig)
	if err != nil {
		return "", err
	}
	var report string
	var last error
	err = wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		report, last = platformOnce(ctx, p, client, c.Name, version, pools)
		return last == nil, nil
	})
	if err != nil && last != nil {
		return "", last
	}
	return report, err
}

func platformOnce(ctx context.Context, p cluster.Provider, client kubernetes.Interface, name, version string, pools []v1alpha1.NodePoolStatus) (string, error) {
	// Level 1: cluster, versions, pools, nodes Ready.
	got, err := p.Get(ctx, name)
	if err != nil {
		return "", fmt.Errorf("level 1: %w", err)
	}
	if got.KubernetesVersion != version {
		return "", fmt.Errorf("level 1: the control plane runs %s, not %s", got.KubernetesVersion, version)
	}
	want := 0
	for _, bp := range pools {
		want += bp.Count
		found := false
		for _, gp := range got.NodePools {
			if gp.Name == bp.Name {
				found = gp.Count == bp.Count
			}
		}
		if !found {
			return "", fmt.Errorf("level 1: pool %s does not have blue's %d node(s)", bp.Name, bp.Count)
		}
	}
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("level 1: listing nodes: %w", err)
	}
	renewed := map[string]time.Time{}
	if leases, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{}); err == nil {
		for _, l := range leases.Items {
			if l.Spec.RenewTime != nil {
				renewed[l.Name] = l.Spec.RenewTime.Time
			}
		}
	}
	var notReady, stale, wrong []string
	for i := range list.Items {
		n := &list.Items[i]
		if !nodes.Ready(n) {
			notReady = append(notReady, n.Name)
		}
		if n.Status.NodeInfo.KubeletVersion != version {
			wrong = append(wrong, n.Name+" ("+n.Status.NodeInfo.KubeletVersion+")")
		}
		if hb := heartbeat(n); time.Since(renewed[n.Name]) > heartbeatAge && (hb.IsZero() || time.Since(hb) > heartbeatAge) {
			stale = append(stale, n.Name)
		}
	}
	switch {
	case len(list.Items) != want:
		return "", fmt.Errorf("level 1: %d node(s), blue's pools have %d", len(list.Items), want)
	case len(notReady) > 0:
		return "", fmt.Errorf("level 1: node(s) not Ready: %s", strings.Join(notReady, ", "))
	case len(wrong) > 0:
		return "", fmt.Errorf("level 1: node(s) not at %s: %s", version, strings.Join(wrong, ", "))
	}
	// Level 2: API server health endpoints, kubelets posting status.
	for _, path := range []string{"/readyz", "/livez"} {
		if _, err := client.Discovery().RESTClient().Get().AbsPath(path).DoRaw(ctx); err != nil {
			return "", fmt.Errorf("level 2: API server %s: %w", path, err)
		}
	}
	if len(stale) > 0 {
		return "", fmt.Errorf("level 2: no status from the kubelet of %s in %s", strings.Join(stale, ", "), heartbeatAge)
	}
	// Level 3: system workloads available.
	deps, err := client.AppsV1().Deployments(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("level 3: %w", err)
	}
	dss, err := client.AppsV1().DaemonSets(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("level 3: %w", err)
	}
	for _, d := range deps.Items {
		if d.Spec.Replicas != nil && d.Status.AvailableReplicas < *d.Spec.Replicas {
			return "", fmt.Errorf("level 3: deployment kube-system/%s: %d of %d available", d.Name, d.Status.AvailableReplicas, *d.Spec.Replicas)
		}
	}
	for _, d := range dss.Items {
		if d.Status.NumberAvailable < d.Status.DesiredNumberScheduled {
			return "", fmt.Errorf("level 3: daemonset kube-system/%s: %d of %d available", d.Name, d.Status.NumberAvailable, d.Status.DesiredNumberScheduled)
		}
	}
	return fmt.Sprintf("platform valid: %d node(s) Ready at %s posting status, /readyz and /livez ok, %d system workload(s) available", len(list.Items), version, len(deps.Items)+len(dss.Items)), nil
}

func heartbeat(n *corev1.Node) time.Time {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.LastHeartbeatTime.Time
		}
	}
	return time.Time{}
}

// waitWorkloads waits for green's Deployments and StatefulSets in the
// namespaces (all non-system ones when empty) to be available.
func waitWorkloads(ctx context.Context, cfg *rest.Config, namespaces []string, timeout time.Duration) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var pending []string
	err = wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		pending = nil
		deps, err := client.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, d := range deps.Items {
			if selected(d.Namespace, namespaces) && d.Spec.Replicas != nil && d.Status.AvailableReplicas < *d.Spec.Replicas {
				pending = append(pending, fmt.Sprintf("deployment %s/%s %d/%d", d.Namespace, d.Name, d.Status.AvailableReplicas, *d.Spec.Replicas))
			}
		}
		sts, err := client.AppsV1().StatefulSets("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, s := range sts.Items {
			if selected(s.Namespace, namespaces) && s.Spec.Replicas != nil && s.Status.ReadyReplicas < *s.Spec.Replicas {
				pending = append(pending, fmt.Sprintf("statefulset %s/%s %d/%d", s.Namespace, s.Name, s.Status.ReadyReplicas, *s.Spec.Replicas))
			}
		}
		return len(pending) == 0, nil
	})
	if err != nil && len(pending) > 0 {
		return fmt.Errorf("not available after %s: %s", timeout, strings.Join(pending, ", "))
	}
	return err
}

func selected(ns string, namespaces []string) bool {
	if len(namespaces) == 0 {
		return ns != metav1.NamespaceSystem && ns != "kube-public" && ns != "kube-node-lease"
	}
	for _, n := range namespaces {
		if n == ns {
			return true
		}
	}
	return false
}
