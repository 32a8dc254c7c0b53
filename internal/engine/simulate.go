package engine

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/drainsim"
	"upshift.dev/upshift/internal/plan"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/steps"
)

// PoolSimulation is the replay of one NodePool step of a plan.
type PoolSimulation struct {
	Cluster string `json:"cluster"`
	Pool    string `json:"pool"`
	*drainsim.Result
	// DryRuns counts the server-side dry-run evictions sent.
	DryRuns int `json:"dryRunEvictions"`
	// Error says why the pool was not replayed.
	Error string `json:"error,omitempty"`
}

// Timings gives the timings a provider's pools are predicted with.
type Timings func(provider string) drainsim.Timings

// SimulatePools replays every NodePool step of the plan against its
// cluster as it is now, read-only (lists, and dry-run evictions): each
// pool from the same snapshot, as if it were the cluster's only one.
func (e *Engine) SimulatePools(ctx context.Context, run *v1alpha1.UpdateRun, p *plan.Plan, timings Timings) []PoolSimulation {
	var out []PoolSimulation
	for _, st := range p.Stages {
		for _, g := range st.Groups {
			for _, c := range g.Clusters {
				var pools []string
				for _, step := range c.Steps {
					if step.Kind == steps.NodePool {
						pools = append(pools, step.Pool)
					}
				}
				if len(pools) > 0 {
					out = append(out, e.simulateCluster(ctx, run, p, c.Name, pools, timings)...)
				}
			}
		}
	}
	return out
}

func (e *Engine) simulateCluster(ctx context.Context, run *v1alpha1.UpdateRun, p *plan.Plan, name string, pools []string, timings Timings) []PoolSimulation {
	out := make([]PoolSimulation, len(pools))
	for i, pool := range pools {
		out[i] = PoolSimulation{Cluster: name, Pool: pool}
	}
	fail := func(err error) []PoolSimulation {
		for i := range out {
			out[i].Error = err.Error()
		}
		return out
	}
	fc, ok := e.fleetCluster(name)
	if !ok {
		return fail(fmt.Errorf("cluster %s is not in the fleet", name))
	}
	m, err := e.Resolve(fc)
	if err != nil {
		return fail(err)
	}
	loc, ok := m.Provider.(cluster.PoolLocator)
	if !ok {
		return fail(fmt.Errorf("provider %s does not say which nodes are a pool's, so its pools cannot be replayed", fc.Spec.Provider))
	}
	if m.RESTConfig == nil {
		return fail(fmt.Errorf("no credentials to read cluster %s", name))
	}
	client, err := kubernetes.NewForConfig(m.RESTConfig)
	if err != nil {
		return fail(err)
	}
	snap, err := drainsim.Load(ctx, client)
	if err != nil {
		return fail(fmt.Errorf("reading cluster %s: %w", name, err))
	}
	up := cluster.UpgradeOf(run.Spec, p.NodeImage)
	for i, pool := range pools {
		s := &out[i]
		where, err := loc.PoolNodes(ctx, m.Name, pool, up)
		if err != nil {
			s.Error = err.Error()
			continue
		}
		sel, err := labels.Parse(where.Selector)
		if err != nil {
			s.Error = fmt.Sprintf("provider %s's selector %q for pool %s: %v", fc.Spec.Provider, where.Selector, pool, err)
			continue
		}
		dp := drainsim.Pool{Name: pool, Selector: sel, Current: atTarget(where), MaxSurge: up.MaxSurge,
			DrainTimeout: up.DrainTimeout, Soak: up.Soak, OnUndrainable: up.OnUndrainable}
		res, err := drainsim.Simulate(snap, dp)
		if err != nil {
			s.Error = err.Error()
			continue
		}
		if s.DryRuns, err = drainsim.Confirm(ctx, client, res); err != nil {
			s.Error = fmt.Sprintf("dry-run evictions on cluster %s: %v", name, err)
		}
		drainsim.Predict(res, dp, timings(fc.Spec.Provider))
		s.Result = res
	}
	return out
}

// atTarget says whether a node already looks as the provider says a node
// at the target does.
func atTarget(where cluster.PoolNodes) func(*corev1.Node) bool {
	return func(n *corev1.Node) bool {
		if where.KubeletVersion != "" && n.Status.NodeInfo.KubeletVersion != where.KubeletVersion {
			return false
		}
		for k, v := range where.Labels {
			if n.Labels[k] != v {
				return false
			}
		}
		return true
	}
}
