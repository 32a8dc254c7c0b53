package kubeconfig

import (
	"context"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/nodepool"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/restconfig"
)

// why is what the planner and a refused operation say.
const why = "it only reaches the cluster's API server through a kubeconfig; to upgrade the cluster use provider exec (commands of yours that drive its platform), or local for clusters of the local fleet"

// Cannot lists what this provider cannot do, for the planner.
var Cannot = map[string]string{
	cluster.OpUpgradeControlPlane: why,
	cluster.OpUpgradeNodePool:     why,
	cluster.OpCreate:              why,
	cluster.OpDelete:              why,
}

// PoolLabels are the node labels that name a node's pool, by platform; a
// node with none of them is in pool "nodes".
var PoolLabels = []string{
	"upshift.dev/node-pool",
	"kubernetes.azure.com/agentpool",
	"eks.amazonaws.com/nodegroup",
	"alpha.eksctl.io/nodegroup-name",
	"karpenter.sh/nodepool",
	"cloud.google.com/gke-nodepool",
	"cluster.x-k8s.io/deployment-name",
	"node.kubernetes.io/pool",
}

// DefaultPool holds nodes without a pool label.
const DefaultPool = "nodes"

// Provider reads one cluster through its REST configuration.
type Provider struct {
	Config *rest.Config
}

var _ cluster.Provider = (*Provider)(nil)

// Validate checks a fleet Cluster of provider kubeconfig.
func Validate(c *v1alpha1.Cluster, _ string) error {
	if c.Spec.Local != nil || c.Spec.Exec != nil {
		return fmt.Errorf("cluster %s: provider kubeconfig takes spec.kubeconfig and spec.context only", c.Name)
	}
	return nil
}

// Open resolves fleet clusters of provider kubeconfig. Loading the
// kubeconfig is the whole check: reaching the cluster is Get's job, so a
// cluster that is down shows as unreachable rather than failing the rest.
func Open(fleetmember.Env) (fleetmember.Resolver, error) {
	return func(c v1alpha1.Cluster) (*fleetmember.Member, error) {
		cfg, err := restconfig.FromKubeconfig(c.Spec.Kubeconfig, c.Spec.Context)
		if err != nil {
			return nil, err
		}
		return &fleetmember.Member{Provider: &Provider{Config: cfg}, Name: c.Name, RESTConfig: cfg, Kubeconfig: c.Spec.Kubeconfig, Context: c.Spec.Context}, nil
	}, nil
}

// Get reads the API server's version and the nodes, grouped into pools.
func (p *Provider) Get(ctx context.Context, name string) (*cluster.Cluster, error) {
	client, err := kubernetes.NewForConfig(p.Config)
	if err != nil {
		return nil, err
	}
	v, err := client.Discovery().ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("reading the API server's version: %w", err)
	}
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	out := &cluster.Cluster{Name: name, KubernetesVersion: v.GitVersion}
	pools := map[string]*cluster.NodePool{}
	var order []string
	for _, n := range list.Items {
		pool := DefaultPool
		for _, l := range PoolLabels {
			if v := n.Labels[l]; v != "" {
				pool = v
				break
			}
		}
		np, ok := pools[pool]
		if !ok {
			np = &cluster.NodePool{Name: pool, KubernetesVersion: n.Status.NodeInfo.KubeletVersion, NodeImage: n.Status.NodeInfo.OSImage}
			pools[pool] = np
			order = append(order, pool)
		}
		np.Count++
		// A pool part-way through an upgrade shows its oldest kubelet:
		// what still has to move.
		if older(n.Status.NodeInfo.KubeletVersion, np.KubernetesVersion) {
			np.KubernetesVersion = n.Status.NodeInfo.KubeletVersion
		}
	}
	slices.Sort(order)
	for _, name := range order {
		out.NodePools = append(out.NodePools, *pools[name])
	}
	return out, nil
}

func older(a, b string) bool {
	va, err := kubeversion.Parse(a)
	if err != nil {
		return false
	}
	vb, err := kubeversion.Parse(b)
	if err != nil {
		return true
	}
	return va.Compare(vb) < 0
}

// Versions is empty: a kubeconfig says nothing of what the platform offers.
func (p *Provider) Versions(context.Context) ([]kubeversion.Version, error) { return nil, nil }

func refuse(op string) error {
	return &cluster.UnsupportedError{Provider: v1alpha1.ProviderKubeconfig, Op: op, Why: why}
}

// Create is refused.
func (p *Provider) Create(context.Context, cluster.Spec) (*cluster.Cluster, error) {
	return nil, refuse(cluster.OpCreate)
}

// Delete is refused.
func (p *Provider) Delete(context.Context, string) error { return refuse(cluster.OpDelete) }

// UpgradeControlPlane is refused.
func (p *Provider) UpgradeControlPlane(context.Context, string, string) error {
	return refuse(cluster.OpUpgradeControlPlane)
}

// UpgradeNodePool is refused.
func (p *Provider) UpgradeNodePool(context.Context, string, string, cluster.NodePoolUpgrade) (nodepool.Result, error) {
	return nodepool.Result{}, refuse(cluster.OpUpgradeNodePool)
}
