package drainsim

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Snapshot is what the simulation reads of a cluster: three lists, taken
// once.
type Snapshot struct {
	Nodes []corev1.Node
	Pods  []corev1.Pod
	PDBs  []policyv1.PodDisruptionBudget
}

// Load lists the cluster's nodes, pods and budgets. It only reads.
func Load(ctx context.Context, client kubernetes.Interface) (*Snapshot, error) {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	pods, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	pdbs, err := client.PolicyV1().PodDisruptionBudgets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing PodDisruptionBudgets: %w", err)
	}
	return &Snapshot{Nodes: nodes.Items, Pods: pods.Items, PDBs: pdbs.Items}, nil
}
