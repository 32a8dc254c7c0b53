// Package cluster defines what upshift needs from a place that runs
// Kubernetes clusters: create and delete them, read them, upgrade their
// control plane and node pools, add and remove nodes. Each implementation
// is a sub-package named after what it drives (local, later aks, exec).
package cluster

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/nodes"
)

// Provider runs Kubernetes clusters.
type Provider interface {
	// Create makes a cluster and returns when it is ready. Creating a
	// cluster that exists with the same version makes sure all of it runs
	// and creates nothing new, so a create cut short can be done again.
	Create(ctx context.Context, spec Spec) (*Cluster, error)
	// Delete removes a cluster and everything it ran. Deleting a cluster
	// that is gone is not an error, so a delete cut short can be redone.
	Delete(ctx context.Context, name string) error
	// Get reads a cluster as it is now.
	Get(ctx context.Context, name string) (*Cluster, error)
	// Versions lists the Kubernetes versions clusters can run, oldest
	// first: the plan's hops and targets come from here.
	Versions(ctx context.Context) ([]kubeversion.Version, error)
	// UpgradeControlPlane moves the control plane to version, which must be
	// the current or the next minor version.
	UpgradeControlPlane(ctx context.Context, name, version string) error
	// UpgradeNodePool replaces the pool's nodes with nodes at the target.
	UpgradeNodePool(ctx context.Context, name, pool string, up NodePoolUpgrade) (nodes.Result, error)
	// AddNodes grows a pool by count nodes at the pool's current settings.
	AddNodes(ctx context.Context, name, pool string, count int) ([]string, error)
	// RemoveNodes deletes nodes of a cluster.
	RemoveNodes(ctx context.Context, name string, nodeNames []string) error
}

// Spec asks for a cluster.
type Spec struct {
	Name              string
	KubernetesVersion string
	NodePools         []NodePoolSpec
}

// NodePoolSpec asks for a node pool.
type NodePoolSpec struct {
	Name      string
	Count     int
	NodeImage string
}

// Cluster is a cluster as a provider sees it.
type Cluster struct {
	Name              string
	KubernetesVersion string // the control plane's gitVersion
	NodePools         []NodePool
	Kubeconfig        string // path of an admin kubeconfig
	Context           string // its context for this cluster
	IngressURL        string // where the cluster's ingress answers, if known
}

// NodePool is a pool as it is now.
type NodePool struct {
	Name              string
	Count             int
	KubernetesVersion string
	NodeImage         string
}

// NodePoolUpgrade says what a pool upgrade moves to and how.
type NodePoolUpgrade struct {
	// KubernetesVersion of the new nodes; empty keeps the pool's.
	KubernetesVersion string
	// NodeImage of the new nodes; empty keeps the pool's.
	NodeImage    string
	MaxSurge     intstr.IntOrString
	DrainTimeout time.Duration
	Soak         time.Duration
	// OnUndrainable is nodes.UndrainableSchedule (default) or
	// nodes.UndrainableCordon.
	OnUndrainable string
	Events        func(nodes.Event)
}
