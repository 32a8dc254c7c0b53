package engine

import (
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/kubeversion"
)

// Retry is a new run over the clusters a run left undone (failed,
// skipped, or never started), at its frozen target: the version the
// first run planned their ControlPlane steps to, pinned when it is one
// for them all (else the first run's own target, which each resolves as
// it did), and the node image it chose, pinned. Its strategy keeps the stages and
// groups that still hold a cluster. failed and skipped pick which to
// retry; both false retries every cluster not completed.
func Retry(old *v1alpha1.UpdateRun, fleet []v1alpha1.Cluster, name string, failed, skipped bool) (*v1alpha1.UpdateRun, *v1alpha1.UpdateStrategySpec, []v1alpha1.Cluster, error) {
	if old.Status.Strategy == nil {
		return nil, nil, nil, fmt.Errorf("run %s was never initialized: start it with upshift resume %s", old.Name, old.Name)
	}
	want := map[string]bool{}
	// Each retried cluster's target is the newest version its steps move
	// to, as the first run planned it for that cluster's provider.
	targets := map[string]bool{}
	for _, st := range old.Status.Stages {
		for _, c := range st.Clusters {
			switch {
			case failed && c.Phase == v1alpha1.PhaseFailed, skipped && c.Phase == v1alpha1.PhaseSkipped,
				!failed && !skipped && c.Phase != v1alpha1.PhaseCompleted:
				want[c.Name] = true
			default:
				continue
			}
			var own string
			for _, step := range c.Steps {
				if step.Version != "" && (own == "" || newer(step.Version, own)) {
					own = step.Version
				}
			}
			if own != "" {
				targets[own] = true
			}
		}
	}
	// One target for them all is pinned; clusters whose providers were
	// planned to different patches keep the first run's own target, which
	// each resolves as it did then.
	var target string
	if len(targets) == 1 {
		for v := range targets {
			target = v
		}
	}
	if len(want) == 0 {
		return nil, nil, nil, fmt.Errorf("run %s left no cluster to retry (%s)", old.Name, retryWhich(failed, skipped))
	}
	var clusters []v1alpha1.Cluster
	for _, c := range fleet {
		if want[c.Name] {
			clusters = append(clusters, c)
		}
	}
	strategy := old.Status.Strategy.DeepCopy()
	inGroup := func(g v1alpha1.GroupRef) bool {
		return slices.ContainsFunc(clusters, func(c v1alpha1.Cluster) bool { return c.Spec.Group == g.Name })
	}
	var stages []v1alpha1.StageSpec
	for _, st := range strategy.Stages {
		if len(st.Groups) > 0 {
			st.Groups = slices.DeleteFunc(slices.Clone(st.Groups), func(g v1alpha1.GroupRef) bool { return !inGroup(g) })
			if len(st.Groups) == 0 {
				continue
			}
		}
		if holdsAny(st, clusters) {
			stages = append(stages, st)
		}
	}
	strategy.Stages = stages
	run := &v1alpha1.UpdateRun{TypeMeta: old.TypeMeta, ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: old.Namespace, Labels: old.Labels, Annotations: map[string]string{}}}
	for k, v := range old.Annotations {
		run.Annotations[k] = v
	}
	run.Annotations[v1alpha1.AnnotationRetryOf] = old.Name
	run.Spec = *old.Spec.DeepCopy()
	run.Spec.Strategy, run.Spec.StrategyRef, run.Spec.State = strategy, nil, ""
	run.Spec.Clusters = nil
	for _, c := range clusters {
		run.Spec.Clusters = append(run.Spec.Clusters, c.Name)
	}
	if target != "" && run.Spec.Upgrade.Type != v1alpha1.UpgradeNodeImageOnly {
		run.Spec.Upgrade.KubernetesVersion = target
	}
	if img := old.Status.NodeImage; img != "" {
		run.Spec.Upgrade.NodeImageSelection = &v1alpha1.NodeImageSelection{Type: v1alpha1.NodeImageCustom, Image: img}
	}
	return run, strategy, clusters, nil
}

// holdsAny says whether a stage selects one of the clusters.
func holdsAny(st v1alpha1.StageSpec, clusters []v1alpha1.Cluster) bool {
	groups := map[string]bool{}
	for _, g := range st.Groups {
		groups[g.Name] = true
	}
	sel := labels.Everything()
	if st.LabelSelector != nil {
		if s, err := metav1.LabelSelectorAsSelector(st.LabelSelector); err == nil {
			sel = s
		}
	}
	for _, c := range clusters {
		if (len(st.Groups) == 0 || groups[c.Spec.Group]) && sel.Matches(labels.Set(c.Labels)) {
			return true
		}
	}
	return false
}

func newer(a, b string) bool {
	va, err := kubeversion.Parse(a)
	if err != nil {
		return false
	}
	vb, err := kubeversion.Parse(b)
	return err != nil || va.Compare(vb) > 0
}

func retryWhich(failed, skipped bool) string {
	switch {
	case failed && skipped:
		return "none failed or skipped"
	case failed:
		return "none failed"
	case skipped:
		return "none skipped"
	}
	return "every cluster completed"
}
