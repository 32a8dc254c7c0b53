package engine

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/drainsim"
	"upshift.dev/upshift/internal/methods"
	"upshift.dev/upshift/internal/plan"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/steps"
)

// Timings gives the timings a provider's pools are predicted with.
type Timings func(provider string) drainsim.Timings

// SimulatePools replays every NodePool step of the plan against its
// cluster as it is now, read-only (lists, and dry-run evictions): each
// pool from the same snapshot, as if it were the cluster's only one.
func (e *Engine) SimulatePools(ctx context.Context, run *v1alpha1.UpdateRun, strategy *v1alpha1.UpdateStrategySpec, p *plan.Plan, timings Timings) []drainsim.Replay {
	var out []drainsim.Replay
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
					out = append(out, e.simulateCluster(ctx, run, strategy, p.NodeImage, c.Name, pools, timings)...)
				}
			}
		}
	}
	return out
}

func (e *Engine) simulateCluster(ctx context.Context, run *v1alpha1.UpdateRun, strategy *v1alpha1.UpdateStrategySpec, image, name string, pools []string, timings Timings) []drainsim.Replay {
	out := make([]drainsim.Replay, len(pools))
	for i, pool := range pools {
		out[i] = drainsim.Replay{Cluster: name, Pool: pool}
	}
	fail := func(err error) []drainsim.Replay {
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
	up := methods.PoolUpgrade(run.Spec, image)
	windows, err := e.windowGates(ctx, strategy, fc, run.Spec.Upgrade.Type)
	if err != nil {
		return fail(err)
	}
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
		if w := shortest(windows); w != nil {
			s.Window = drainsim.Fit(res, w.String(), time.Duration(w.spec.DurationHours)*time.Hour)
		}
	}
	return out
}

// shortest is the window of the least hours, or nil for none.
func shortest(gs []gate) *gate {
	var out *gate
	for i := range gs {
		if out == nil || gs[i].spec.DurationHours < out.spec.DurationHours {
			out = &gs[i]
		}
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

// gateSimulation is a DrainSimulation gate's replay of the cluster's
// NodePool steps still to do, as the run will do them, with timings from
// the store's runs; none when none is left.
func (e *Engine) gateSimulation(name string) func(ctx context.Context) []drainsim.Replay {
	// Only a DrainSimulation gate calls it: the run is read then, and the
	// cluster's own steps alone (not a copy of every cluster's).
	return func(ctx context.Context) []drainsim.Replay {
		e.mu.Lock()
		var pools []string
		for _, st := range e.run.Status.Stages {
			for _, c := range st.Clusters {
				if c.Name != name {
					continue
				}
				for _, step := range c.Steps {
					if step.Kind == steps.NodePool && step.Phase != v1alpha1.PhaseCompleted && step.Phase != v1alpha1.PhaseSkipped {
						pools = append(pools, step.Pool)
					}
				}
			}
		}
		head := *e.run
		head.Status.Stages = nil
		run := head.DeepCopy()
		e.mu.Unlock()
		if len(pools) == 0 {
			return nil
		}
		runs, err := e.Store.List()
		if err != nil {
			runs = nil // defaults, said so in each figure's source
		}
		return e.simulateCluster(ctx, run, run.Status.Strategy, run.Status.NodeImage, name, pools, drainsim.History(runs))
	}
}
