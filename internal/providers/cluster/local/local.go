package local

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/nodepool"
	"upshift.dev/upshift/internal/nodes"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/toolchain"
)

// Type names this provider in configuration.
const Type = "local"

// Provider drives a local fleet.
type Provider struct {
	Fleet *localfleet.Fleet
}

// New returns a provider over fleet.
func New(fleet *localfleet.Fleet) *Provider { return &Provider{Fleet: fleet} }

var (
	_ cluster.Provider  = (*Provider)(nil)
	_ nodeimages.Source = (*Provider)(nil)
)

// Create starts a local cluster.
func (p *Provider) Create(ctx context.Context, spec cluster.Spec) (*cluster.Cluster, error) {
	ls := localfleet.Spec{Name: spec.Name, KubernetesVersion: spec.KubernetesVersion}
	for _, np := range spec.NodePools {
		ls.NodePools = append(ls.NodePools, localfleet.PoolSpec{Name: np.Name, Count: np.Count})
		if np.NodeImage != "" {
			ls.NodeImage = np.NodeImage
		}
	}
	if _, err := p.Fleet.Up(ctx, ls); err != nil {
		return nil, err
	}
	return p.Get(ctx, spec.Name)
}

// Delete stops and removes a local cluster; one that is gone already is
// not an error.
func (p *Provider) Delete(_ context.Context, name string) error {
	if err := p.Fleet.Down(name); err != nil && !errors.Is(err, localfleet.ErrNotFound) {
		return err
	}
	return nil
}

// Get reads a local cluster; pool counts come from the live nodes.
func (p *Provider) Get(ctx context.Context, name string) (*cluster.Cluster, error) {
	c, err := p.Fleet.Get(name)
	if err != nil {
		return nil, err
	}
	st := p.Fleet.Status(ctx, c)
	out := &cluster.Cluster{
		Name:              c.Name,
		KubernetesVersion: c.KubernetesVersion,
		Kubeconfig:        c.KubeconfigPath(),
		Context:           c.Name,
		IngressURL:        c.IngressURL(),
	}
	if st.ServerVersion != "" {
		out.KubernetesVersion = st.ServerVersion
	}
	for _, pool := range c.NodePools {
		np := cluster.NodePool{Name: pool.Name, Count: pool.Count, KubernetesVersion: pool.KubernetesVersion, NodeImage: pool.NodeImage}
		for _, live := range st.NodePools {
			if live.Name == pool.Name {
				np.Count = live.Nodes
			}
		}
		out.NodePools = append(out.NodePools, np)
	}
	return out, nil
}

// Versions lists the releases the local fleet builds.
func (p *Provider) Versions(context.Context) ([]kubeversion.Version, error) {
	return toolchain.Versions(toolchain.Releases), nil
}

// NodeImages reads the local fleet's node-image catalogue
// (node-images.yaml in its home; the built-in one until an image is
// published).
func (p *Provider) NodeImages(context.Context) (*nodeimages.Feed, error) {
	return nodeimages.Load(p.Fleet.NodeImagesPath())
}

// UpgradeControlPlane restarts the control plane on the next minor.
func (p *Provider) UpgradeControlPlane(ctx context.Context, name, version string) error {
	return p.Fleet.UpgradeControlPlane(ctx, name, version)
}

// UpgradeNodePool surges, drains and replaces the pool's nodes.
func (p *Provider) UpgradeNodePool(ctx context.Context, name, pool string, up cluster.NodePoolUpgrade) (nodepool.Result, error) {
	c, err := p.Fleet.Get(name)
	if err != nil {
		return nodepool.Result{}, err
	}
	current, ok := c.Pool(pool)
	if !ok {
		return nodepool.Result{}, fmt.Errorf("local cluster %s has no node pool %q (it has %s)", name, pool, poolNames(c))
	}
	target := *current
	if up.KubernetesVersion != "" {
		r, err := toolchain.ResolveKubernetesVersion(up.KubernetesVersion)
		if err != nil {
			return nodepool.Result{}, err
		}
		target.KubernetesVersion = r.Version
	}
	if up.NodeImage != "" {
		images, err := p.NodeImages(ctx)
		if err != nil {
			return nodepool.Result{}, err
		}
		if _, err := images.Require(up.NodeImage); err != nil {
			return nodepool.Result{}, fmt.Errorf("node pool %s of %s: %w; publish it with `upshift local images publish`", pool, name, err)
		}
		target.NodeImage = up.NodeImage
	}
	if err := checkKubeletSkew(c.KubernetesVersion, target.KubernetesVersion); err != nil {
		return nodepool.Result{}, fmt.Errorf("node pool %s of %s: %w", pool, name, err)
	}
	client, err := c.Client()
	if err != nil {
		return nodepool.Result{}, err
	}
	// Record the target first, so that nodes added from now on, and a
	// restarted upgrade, use it.
	if err := p.Fleet.SetPool(name, target); err != nil {
		return nodepool.Result{}, err
	}
	u := &nodes.Upgrade{
		Client:           client,
		Pool:             poolOps{fleet: p.Fleet, cluster: name, pool: target},
		Selector:         localfleet.LabelNodePool + "=" + pool,
		Current:          func(n *corev1.Node) bool { return atTarget(n, target) },
		Size:             target.Count,
		MaxSurge:         up.MaxSurge,
		DrainTimeout:     up.DrainTimeout,
		Soak:             up.Soak,
		OnUndrainable:    up.OnUndrainable,
		Events:           up.Events,
		SoakReadyPods:    up.SoakReadyPods,
		SoakReadyTimeout: up.SoakReadyTimeout,
		EscalateAfter:    up.EscalateAfter,
		DeleteBlockers:   up.DeleteBlockers,
		AllowLocalData:   up.AllowLocalData,
	}
	return u.Run(ctx)
}

// PoolNodes finds the pool's nodes by their pool label; a node at the
// target runs its kubelet version with its node image label.
func (p *Provider) PoolNodes(ctx context.Context, name, pool string, up cluster.NodePoolUpgrade) (cluster.PoolNodes, error) {
	c, err := p.Fleet.Get(name)
	if err != nil {
		return cluster.PoolNodes{}, err
	}
	current, ok := c.Pool(pool)
	if !ok {
		return cluster.PoolNodes{}, fmt.Errorf("local cluster %s has no node pool %q (it has %s)", name, pool, poolNames(c))
	}
	version, image := current.KubernetesVersion, current.NodeImage
	if up.KubernetesVersion != "" {
		r, err := toolchain.ResolveKubernetesVersion(up.KubernetesVersion)
		if err != nil {
			return cluster.PoolNodes{}, err
		}
		version = r.Version
	}
	if up.NodeImage != "" {
		image = up.NodeImage
	}
	return cluster.PoolNodes{Selector: localfleet.LabelNodePool + "=" + pool, KubeletVersion: version,
		Labels: map[string]string{localfleet.LabelNodeImage: image}}, nil
}

func atTarget(n *corev1.Node, target localfleet.NodePool) bool {
	return n.Status.NodeInfo.KubeletVersion == target.KubernetesVersion && n.Labels[localfleet.LabelNodeImage] == target.NodeImage
}

// checkKubeletSkew enforces Kubernetes' version skew policy.
func checkKubeletSkew(controlPlane, kubelet string) error {
	cp, err := kubeversion.Parse(controlPlane)
	if err != nil {
		return err
	}
	kl, err := kubeversion.Parse(kubelet)
	if err != nil {
		return err
	}
	return kubeversion.CheckKubeletSkew(cp, kl)
}

func poolNames(c *localfleet.Cluster) string {
	var names []string
	for _, p := range c.NodePools {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return fmt.Sprint(names)
}

// poolOps is nodes.Pool for one local pool.
type poolOps struct {
	fleet   *localfleet.Fleet
	cluster string
	pool    localfleet.NodePool
}

func (o poolOps) AddNodes(ctx context.Context, n int) ([]string, error) {
	c, err := o.fleet.Get(o.cluster)
	if err != nil {
		return nil, err
	}
	client, err := c.Client()
	if err != nil {
		return nil, err
	}
	return localfleet.CreateNodes(ctx, client, o.pool, n)
}

func (o poolOps) RemoveNodes(ctx context.Context, names []string) error {
	c, err := o.fleet.Get(o.cluster)
	if err != nil {
		return err
	}
	client, err := c.Client()
	if err != nil {
		return err
	}
	return localfleet.DeleteNodes(ctx, client, names)
}
