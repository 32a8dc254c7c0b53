// Package instant is a cluster provider whose every action completes at
// once, for tests and benchmarks of the engine alone: its clusters start
// at toolchain.Previous with pools system and user, and it counts the
// upgrades asked of it. No fleet names it: it is never registered, only
// handed to an engine's Resolve.
package instant

import (
	"context"
	"sync"
	"sync/atomic"

	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/nodepool"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/toolchain"
)

// Provider completes every action at once.
type Provider struct {
	// Actions counts the upgrades done (control planes and pools).
	Actions atomic.Int64

	mu sync.Mutex
	// order lists the clusters in the order their first upgrade began.
	order []string
}

var _ cluster.Provider = (*Provider)(nil)

func (p *Provider) Create(context.Context, cluster.Spec) (*cluster.Cluster, error) { return nil, nil }
func (p *Provider) Delete(context.Context, string) error                           { return nil }

// Get says every cluster runs toolchain.Previous, with pools system and
// user.
func (p *Provider) Get(_ context.Context, name string) (*cluster.Cluster, error) {
	return &cluster.Cluster{Name: name, KubernetesVersion: toolchain.Previous().Version, NodePools: []cluster.NodePool{{Name: "system"}, {Name: "user"}}}, nil
}

// Versions are the toolchain's releases.
func (p *Provider) Versions(context.Context) ([]kubeversion.Version, error) {
	return toolchain.Versions(toolchain.Releases), nil
}

func (p *Provider) UpgradeControlPlane(_ context.Context, name, _ string) error {
	p.began(name)
	p.Actions.Add(1)
	return nil
}

func (p *Provider) UpgradeNodePool(_ context.Context, name, _ string, _ cluster.NodePoolUpgrade) (nodepool.Result, error) {
	p.began(name)
	p.Actions.Add(1)
	return nodepool.Result{}, nil
}

func (p *Provider) began(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range p.order {
		if n == name {
			return
		}
	}
	p.order = append(p.order, name)
}

// Order lists the clusters in the order their first upgrade began.
func (p *Provider) Order() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.order...)
}
