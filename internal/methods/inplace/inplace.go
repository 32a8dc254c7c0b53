package inplace

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/methods"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/nodepool"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/steps"
)

// Method upgrades clusters where they stand.
type Method struct{}

var _ methods.Method = Method{}

// Method names it in spec.method.
func (Method) Method() string { return v1alpha1.MethodInPlace }

// Validate checks the run holds nothing of another method.
func (Method) Validate(run *v1alpha1.UpdateRun) field.ErrorList {
	var errs field.ErrorList
	if run.Spec.BlueGreen != nil {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "blueGreen"), "set method: BlueGreen (or Canary) to use blueGreen"))
	}
	if run.Spec.Canary != nil {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "canary"), "set method: Canary to use canary"))
	}
	return errs
}

// Steps lists a cluster's steps: preflight gates, one control-plane step
// per minor version, one step per node pool, post-upgrade gates.
func (Method) Steps(run *v1alpha1.UpdateRun, ci steps.ClusterInfo) ([]steps.Step, error) {
	var out []steps.Step
	if len(run.Spec.Gates.Preflight) > 0 {
		out = append(out, steps.Step{Kind: steps.Preflight})
	}
	if err := need(run, ci); err != nil {
		return nil, err
	}
	if run.Spec.Upgrade.Type != v1alpha1.UpgradeNodeImageOnly {
		current, target, err := ci.FromTo(run.Spec.Upgrade.KubernetesVersion)
		if err != nil {
			return nil, err
		}
		hops, err := kubeversion.Hops(current, target, ci.Available)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", ci.Cluster.Name, err)
		}
		for _, h := range hops {
			out = append(out, steps.Step{Kind: steps.ControlPlane, Version: h.String()})
		}
	}
	if run.Spec.Upgrade.Type != v1alpha1.UpgradeControlPlaneOnly {
		for _, pool := range ci.NodePools {
			out = append(out, steps.Step{Kind: steps.NodePool, Pool: pool})
		}
	}
	if len(run.Spec.Gates.PostUpgrade) > 0 {
		out = append(out, steps.Step{Kind: steps.PostUpgrade})
	}
	return out, nil
}

// need fails when the cluster's provider cannot do what the run asks.
func need(run *v1alpha1.UpdateRun, ci steps.ClusterInfo) error {
	var errs []error
	if run.Spec.Upgrade.Type != v1alpha1.UpgradeNodeImageOnly {
		errs = append(errs, ci.Need(steps.OpUpgradeControlPlane, steps.ControlPlane))
	}
	if run.Spec.Upgrade.Type != v1alpha1.UpgradeControlPlaneOnly {
		for _, pool := range ci.NodePools {
			errs = append(errs, ci.Need(steps.OpUpgradeNodePool, steps.Step{Kind: steps.NodePool, Pool: pool}.Name()))
			if ns := run.Spec.NodeUpgrade.NodeSoak; ns != nil && ns.ReadyPods {
				errs = append(errs, ci.Need(steps.OpSoakReadyPods, steps.Step{Kind: steps.NodePool, Pool: pool}.Name()))
			}
			if un := run.Spec.NodeUpgrade.Undrainable; un != nil && un.Then == v1alpha1.EscalateDeletePod {
				errs = append(errs, ci.Need(steps.OpDeleteUndrainable, steps.Step{Kind: steps.NodePool, Pool: pool}.Name()))
			}
			if methods.PoolUpgrade(run.Spec, "").OnUndrainable == nodepool.UndrainableCordon {
				errs = append(errs, ci.Need(steps.OpCordonUndrainable, steps.Step{Kind: steps.NodePool, Pool: pool}.Name()))
			}
		}
	}
	return errors.Join(errs...)
}

// Execute does one step.
func (Method) Execute(ctx context.Context, env methods.Env, step steps.Step) (methods.Result, error) {
	spec := env.Run().Spec
	m := env.Member()
	switch step.Kind {
	case steps.Preflight:
		return env.Gates(ctx, spec.Gates.Preflight, m, "")
	case steps.PostUpgrade:
		nodeVersion := ""
		if spec.Upgrade.Type == v1alpha1.UpgradeFull {
			if v, err := methods.TargetVersion(ctx, m, spec.Upgrade.KubernetesVersion); err == nil {
				nodeVersion = v.String()
			}
		}
		return env.Gates(ctx, spec.Gates.PostUpgrade, m, nodeVersion)
	case steps.ControlPlane:
		start := time.Now()
		if err := m.Provider.UpgradeControlPlane(cluster.WithProgress(ctx, env.Progress), m.Name, step.Version); err != nil {
			return methods.Result{}, err
		}
		return methods.Result{Message: fmt.Sprintf("control plane at %s (%s)", step.Version, time.Since(start).Round(100*time.Millisecond))}, nil
	case steps.NodePool:
		return upgradePool(ctx, env, step.Pool)
	}
	return methods.Result{}, fmt.Errorf("the in-place method has no step %q", step.Kind)
}

// escalator is an Env that reports an undrainable escalation apart from
// progress, so that it is notified (the engine's).
type escalator interface{ Escalated(msg string) }

func upgradePool(ctx context.Context, env methods.Env, pool string) (methods.Result, error) {
	spec := env.Run().Spec
	m := env.Member()
	image, err := poolImage(ctx, env, pool)
	if err != nil {
		return methods.Result{}, err
	}
	up := methods.PoolUpgrade(spec, image)
	up.Events = func(ev nodepool.Event) {
		if esc, ok := env.(escalator); ok && ev.Step == "Escalate" {
			esc.Escalated(ev.Message)
			return
		}
		env.Progress(ev.Message)
	}
	res, err := m.Provider.UpgradeNodePool(cluster.WithProgress(ctx, env.Progress), m.Name, pool, up)
	if err != nil {
		return methods.Result{}, err
	}
	msg := fmt.Sprintf("%d node(s) replaced in %d batch(es) in %s", res.Replaced, res.Batches, res.Duration.Round(100*time.Millisecond))
	if image != "" {
		msg += ", node image " + image
	}
	if len(res.Quarantined) > 0 {
		msg += fmt.Sprintf("; %d node(s) could not be drained and stay cordoned, labelled %s=quarantined: %s", len(res.Quarantined), nodepool.LabelQuarantined, strings.Join(res.Quarantined, ", "))
	}
	return methods.Result{Message: msg, NodePool: &v1alpha1.NodePoolRecord{
		Provider: env.Cluster().Spec.Provider, Replaced: res.Replaced, Batches: res.Batches,
		NodeReadyP50: metav1.Duration{Duration: nodepool.Percentile(res.NodeReady, 0.5)},
		NodeReadyP95: metav1.Duration{Duration: nodepool.Percentile(res.NodeReady, 0.95)},
		DrainP50:     metav1.Duration{Duration: nodepool.Percentile(res.Drains, 0.5)},
		DrainP95:     metav1.Duration{Duration: nodepool.Percentile(res.Drains, 0.95)},
	}}, nil
}

// poolImage is the node image a pool moves to: the one the run chose when
// it started, except that a Latest selection (AKS's default) takes the
// newest image the cluster's provider offers when the pool's step starts,
// as AKS does; Consistent keeps the run's image on every cluster. A
// provider that names each pool's newest image (AKS) is asked for this
// pool's, and is asked too when the run chose none (no catalogue) and in
// an emergency patch (which judged that image before it started).
func poolImage(ctx context.Context, env methods.Env, pool string) (string, error) {
	run := env.Run()
	image := run.Status.NodeImage
	sel := run.Spec.Upgrade.NodeImageSelection
	latest := sel == nil || sel.Type == v1alpha1.NodeImageLatest
	if ps, ok := env.Member().Provider.(nodeimages.PoolSource); ok && run.Spec.Upgrade.Type == v1alpha1.UpgradeNodeImageOnly && (latest || image == "" || run.Spec.Patch != nil) {
		newest, err := ps.NewestPoolImage(ctx, env.Member().Name, pool)
		if err != nil {
			return "", fmt.Errorf("reading the newest node image of pool %s: %w", pool, err)
		}
		return newest, nil
	}
	if image == "" || !latest {
		return image, nil
	}
	ni, ok := env.Member().Provider.(nodeimages.Source)
	if !ok {
		return image, nil
	}
	images, err := ni.NodeImages(ctx)
	if err != nil {
		return "", fmt.Errorf("reading the node-image catalogue: %w", err)
	}
	return images.Latest().Version, nil
}
