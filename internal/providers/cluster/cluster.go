package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/nodepool"
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
	UpgradeNodePool(ctx context.Context, name, pool string, up NodePoolUpgrade) (nodepool.Result, error)
}

// Describer is a provider with more to say about a cluster before a run
// touches it — its maintenance windows, an auto-upgrade channel of its
// own — which `upshift plan` shows under the cluster.
type Describer interface {
	Describe(ctx context.Context, name string) ([]string, error)
}

// PoolLocator is a provider that says how to find a pool's nodes in the
// cluster, and what a node at an upgrade's target looks like, so that
// upshift plan --simulate can replay the pool's upgrade.
type PoolLocator interface {
	PoolNodes(ctx context.Context, name, pool string, up NodePoolUpgrade) (PoolNodes, error)
}

// PoolNodes finds a pool's nodes and those already at a target.
type PoolNodes struct {
	// Selector is a label selector for the pool's nodes.
	Selector string
	// KubeletVersion a node at the target reports, and Labels it carries
	// (its node image); empty: not looked at.
	KubeletVersion string
	Labels         map[string]string
}

// Aborter is a provider whose cloud runs upgrades as long operations
// that can be aborted part-way (AKS's abort of a cluster's or a pool's
// latest operation). `upshift stop --abort-cloud-operation` asks it.
type Aborter interface {
	// AbortOperation aborts the operation under way on the cluster and
	// waits until it has ended. It says what it aborted, in one line;
	// "" when no operation was under way.
	AbortOperation(ctx context.Context, name string) (string, error)
}

// ErrAborted marks a provider's error for an operation that was aborted
// in the cloud, by upshift or by a person: the step did not fail on its
// own, and its cloud resource is left as the abort left it.
var ErrAborted = errors.New("the cloud operation was aborted")

// IngressLocator is a provider that finds where a cluster's ingress
// answers apart from Get, because it asks the cluster itself (aks reads a
// LoadBalancer Service): only a blue-green move needs it.
type IngressLocator interface {
	IngressURL(ctx context.Context, name string) (string, error)
}

// IngressURL is where a cluster's ingress answers: what Get said, else
// what the provider's IngressLocator finds.
func IngressURL(ctx context.Context, p Provider, c *Cluster) (string, error) {
	if c.IngressURL != "" {
		return c.IngressURL, nil
	}
	if l, ok := p.(IngressLocator); ok {
		return l.IngressURL(ctx, c.Name)
	}
	return "", fmt.Errorf("cluster %s has no ingress address to route to", c.Name)
}

// Operations of a provider, by the names the exec contract and plan
// errors use.
const (
	OpGet                 = "get"
	OpVersions            = "versions"
	OpUpgradeControlPlane = "upgrade-control-plane"
	OpUpgradeNodePool     = "upgrade-node-pool"
	OpCreate              = "create"
	OpDelete              = "delete"
)

// Operations lists every operation, in the order the contract documents.
var Operations = []string{OpGet, OpVersions, OpUpgradeControlPlane, OpUpgradeNodePool, OpCreate, OpDelete}

// UnsupportedError is an operation a provider cannot do.
type UnsupportedError struct {
	Provider, Op, Why string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("provider %s cannot %s: %s", e.Provider, e.Op, e.Why)
}

// Spec asks for a cluster.
type Spec struct {
	Name              string         `json:"name"`
	KubernetesVersion string         `json:"kubernetesVersion"`
	NodePools         []NodePoolSpec `json:"nodePools,omitempty"`
}

// NodePoolSpec asks for a node pool.
type NodePoolSpec struct {
	Name      string `json:"name"`
	Count     int    `json:"count"`
	NodeImage string `json:"nodeImage,omitempty"`
}

// Cluster is a cluster as a provider sees it.
type Cluster struct {
	Name              string     `json:"name"`
	KubernetesVersion string     `json:"kubernetesVersion"` // the control plane's gitVersion
	NodePools         []NodePool `json:"nodePools,omitempty"`
	Kubeconfig        string     `json:"kubeconfig,omitempty"` // path of an admin kubeconfig
	Context           string     `json:"context,omitempty"`    // its context for this cluster
	IngressURL        string     `json:"ingressURL,omitempty"` // where the cluster's ingress answers, if known
	// Stopped: the provider stopped the cluster (AKS's powerState
	// Stopped); it takes no upgrade until it is started.
	Stopped bool `json:"stopped,omitempty"`
}

// NodePool is a pool as it is now.
type NodePool struct {
	Name              string `json:"name"`
	Count             int    `json:"count"`
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	NodeImage         string `json:"nodeImage,omitempty"`
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
	// OnUndrainable is nodepool.UndrainableSchedule (default) or
	// nodepool.UndrainableCordon.
	OnUndrainable string
	// SoakReadyPods waits, after each node, until the workloads of the
	// pods it evicted are back to their desired Ready replicas, at most
	// SoakReadyTimeout (default 10m).
	SoakReadyPods    bool
	SoakReadyTimeout time.Duration
	// EscalateAfter, when set, is how long a node's drain waits before
	// OnUndrainable applies, instead of DrainTimeout; DeleteBlockers then
	// first deletes the pods a budget alone keeps (never with local data
	// unless AllowLocalData) and finishes the drain.
	EscalateAfter  time.Duration
	DeleteBlockers bool
	AllowLocalData bool
	Events         func(nodepool.Event)
}

type progressKey struct{}

// WithProgress hands a provider a way to say what a long operation is
// doing (an AKS operation it waits for, a command's progress lines); the
// methods pass their step's progress.
func WithProgress(ctx context.Context, fn func(string)) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

// Progress reports msg through the context's progress, if any.
func Progress(ctx context.Context, msg string) {
	if fn, ok := ctx.Value(progressKey{}).(func(string)); ok && fn != nil {
		fn(msg)
	}
}
