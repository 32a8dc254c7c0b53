package localfleet

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"

	"upshift.dev/upshift/internal/nodes"
)

// Labels and annotations of local nodes.
const (
	LabelNodePool          = "upshift.dev/node-pool"
	LabelNodeImage         = "upshift.dev/node-image"
	LabelKubernetesVersion = "upshift.dev/kubernetes-version"
	// AKSLabelAgentPool and AKSLabelNodeImageVersion are the labels AKS
	// puts on a node for its pool and node image.
	AKSLabelAgentPool        = "kubernetes.azure.com/agentpool"
	AKSLabelNodeImageVersion = "kubernetes.azure.com/node-image-version"
	// KwokNodeAnnotation marks the nodes the cluster's kwok controller runs.
	KwokNodeAnnotation = "kwok.x-k8s.io/node"
)

// nodeCapacity is what each kwok node offers the scheduler: enough that a
// pool's pods fit on what is left of it during a drain.
var nodeCapacity = corev1.ResourceList{
	corev1.ResourceCPU:    resource.MustParse("32"),
	corev1.ResourceMemory: resource.MustParse("256Gi"),
	corev1.ResourcePods:   resource.MustParse("250"),
}

// CreateNodes adds n kwok nodes to a pool, at the pool's Kubernetes version
// (their kubelets report it) and node image. It returns the new names.
func CreateNodes(ctx context.Context, client kubernetes.Interface, pool NodePool, n int) ([]string, error) {
	var names []string
	for range n {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name: pool.Name + "-" + utilrand.String(6),
				Labels: map[string]string{
					LabelNodePool:             pool.Name,
					LabelNodeImage:            pool.NodeImage,
					LabelKubernetesVersion:    pool.KubernetesVersion,
					"kubernetes.io/os":        "linux",
					"kubernetes.io/arch":      "amd64",
					"node.kubernetes.io/pool": pool.Name,
					"type":                    "kwok",
					// AKS's own labels, so that a cluster behind the
					// Azure emulator shows its pools as AKS does.
					AKSLabelAgentPool:        pool.Name,
					"agentpool":              pool.Name,
					AKSLabelNodeImageVersion: pool.NodeImage,
				},
				Annotations: map[string]string{KwokNodeAnnotation: "fake"},
			},
			Status: corev1.NodeStatus{
				Capacity:    nodeCapacity,
				Allocatable: nodeCapacity,
				NodeInfo: corev1.NodeSystemInfo{
					KubeletVersion:          pool.KubernetesVersion,
					OSImage:                 pool.NodeImage,
					OperatingSystem:         "linux",
					Architecture:            "amd64",
					ContainerRuntimeVersion: "kwok://" + pool.NodeImage,
				},
			},
		}
		node.Labels["kubernetes.io/hostname"] = node.Name
		if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			if apierrors.IsAlreadyExists(err) {
				continue // a random name clashed; the caller counts what it got
			}
			return names, fmt.Errorf("creating node in pool %s: %w", pool.Name, err)
		}
		names = append(names, node.Name)
	}
	return names, nil
}

// DeleteNodes removes nodes; nodes already gone are fine.
func DeleteNodes(ctx context.Context, client kubernetes.Interface, names []string) error {
	for _, name := range names {
		err := client.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting node %s: %w", name, err)
		}
	}
	return nil
}

// WaitNodesReady waits until every node matching the label selector is
// Ready.
func WaitNodesReady(ctx context.Context, client kubernetes.Interface, selector string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: selector})
		notReady := 0
		if err == nil {
			for i := range list.Items {
				if !nodes.Ready(&list.Items[i]) {
					notReady++
				}
			}
			if notReady == 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("waiting for nodes to be Ready: %w", err)
			}
			return fmt.Errorf("%d nodes were not Ready within %s: is the kwok controller running? see its log", notReady, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// SetPool records a node pool's settings (version, image, count) in the
// cluster's state.
func (f *Fleet) SetPool(cluster string, pool NodePool) error {
	unlock, err := f.lockFleet()
	if err != nil {
		return err
	}
	defer unlock()
	c, err := f.Get(cluster)
	if err != nil {
		return err
	}
	if p, ok := c.Pool(pool.Name); ok {
		*p = pool
	} else {
		c.NodePools = append(c.NodePools, pool)
	}
	return c.save()
}
