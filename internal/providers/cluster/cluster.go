package cluster

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/nodepool"
	"upshift.dev/upshift/internal/steps"
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

// NodeImager is a provider with a node-image catalogue: the images its
// pools can run, with release dates and the CVEs each fixes. Node-image
// runs, `upshift patch`, schedules and the compliance report read it.
type NodeImager interface {
	NodeImages(ctx context.Context) (*nodeimages.Feed, error)
}

// Windower is a provider whose clusters keep maintenance windows of their
// own (AKS's maintenance configurations): a run's steps wait for them
// too, inside upshift's own window.
type Windower interface {
	MaintenanceWindows(ctx context.Context, name string) ([]Window, error)
}

// What a provider's maintenance window holds.
const (
	// HoldsVersions: Kubernetes version upgrades (control plane, pools).
	HoldsVersions = "versions"
	// HoldsNodeImages: node-image upgrades.
	HoldsNodeImages = "node images"
)

// Window is one maintenance window a provider keeps for a cluster.
type Window struct {
	// Source names it as its owner does ("AKS maintenance configuration
	// aksManagedAutoUpgradeSchedule").
	Source string
	// Holds is HoldsVersions or HoldsNodeImages.
	Holds string
	Spec  v1alpha1.MaintenanceWindow
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
	OpUpgradeControlPlane = steps.OpUpgradeControlPlane
	OpUpgradeNodePool     = steps.OpUpgradeNodePool
	OpCreate              = steps.OpCreate
	OpDelete              = steps.OpDelete
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

// UpgradeOf is how a run upgrades each pool to image ("" keeps the
// pool's): the target version of a Full upgrade, and the run's
// nodeUpgrade settings.
func UpgradeOf(spec v1alpha1.UpdateRunSpec, image string) NodePoolUpgrade {
	up := NodePoolUpgrade{NodeImage: image, OnUndrainable: spec.NodeUpgrade.UndrainableNodeBehavior}
	if spec.Upgrade.Type == v1alpha1.UpgradeFull {
		up.KubernetesVersion = spec.Upgrade.KubernetesVersion
	}
	if s := spec.NodeUpgrade.MaxSurge; s != nil {
		up.MaxSurge = *s
	}
	if d := spec.NodeUpgrade.DrainTimeout; d != nil {
		up.DrainTimeout = d.Duration
	}
	if d := spec.NodeUpgrade.NodeSoakDuration; d != nil {
		up.Soak = d.Duration
	}
	// An escalation's Cordon and Fail are undrainableNodeBehavior's
	// Cordon and Schedule after its time; DeletePod drains first for its
	// time, then for the drain timeout.
	if un := spec.NodeUpgrade.Undrainable; un != nil {
		var after time.Duration
		if un.After != nil {
			after = un.After.Duration
		}
		switch un.Then {
		case v1alpha1.EscalateCordon:
			up.OnUndrainable = nodepool.UndrainableCordon
		case v1alpha1.EscalateFail:
			up.OnUndrainable = nodepool.UndrainableSchedule
		case v1alpha1.EscalateDeletePod:
			up.DeleteBlockers, up.AllowLocalData, up.EscalateAfter = true, un.AllowLocalData, after
			after = 0
		}
		if after > 0 {
			up.DrainTimeout = after
		}
	}
	if ns := spec.NodeUpgrade.NodeSoak; ns != nil {
		up.SoakReadyPods = ns.ReadyPods
		if ns.Timeout != nil {
			up.SoakReadyTimeout = ns.Timeout.Duration
		}
	}
	return up
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
