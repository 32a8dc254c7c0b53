package plan

import (
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/bluegreen"
	"upshift.dev/upshift/internal/kubeversion"
)

// ClusterInfo is a member cluster as the planner sees it.
type ClusterInfo struct {
	Cluster   v1alpha1.Cluster
	Version   string   // the control plane's version now, e.g. v1.33.13
	NodePools []string // pool names, in upgrade order
	// Available are the versions the cluster's provider can run (its
	// Versions), for the hops and the target.
	Available []kubeversion.Version
}

// Plan is what a run will do.
type Plan struct {
	Stages []Stage
}

// Stage is a planned stage.
type Stage struct {
	Name           string
	Groups         []Group
	MaxConcurrency intstr.IntOrString
	Before, After  []v1alpha1.StageTask
}

// Group is a planned group; groups of a stage run in parallel.
type Group struct {
	Name     string
	Clusters []Cluster
}

// Cluster is a planned cluster with its steps.
type Cluster struct {
	Name        string
	FromVersion string
	Steps       []string
}

// Step names; control-plane and pool steps carry their target.
const (
	StepPreflight    = "Preflight"
	StepControlPlane = "ControlPlane"
	StepNodePool     = "NodePool"
	StepPostUpgrade  = "PostUpgrade"
)

// AfterTasks are a stage's after-stage tasks in run order: its own, then
// Azure's afterStageWaitInSeconds as a TimedWait named afterStageWait. The
// status tree and the engine both index tasks by this order.
func AfterTasks(st v1alpha1.StageSpec) []v1alpha1.StageTask {
	after := append([]v1alpha1.StageTask{}, st.AfterStageTasks...)
	if st.AfterStageWaitInSeconds > 0 {
		after = append(after, v1alpha1.StageTask{Type: v1alpha1.TaskTimedWait, Name: "afterStageWait", WaitTime: &metav1.Duration{Duration: time.Duration(st.AfterStageWaitInSeconds) * time.Second}})
	}
	return after
}

// Concurrency resolves a group's maxConcurrency: a count, or a percentage
// of the group rounded down; at least 1.
func Concurrency(v intstr.IntOrString, groupSize int) int {
	n, err := intstr.GetScaledValueFromIntOrPercent(&v, groupSize, false)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// Build plans a run over clusters, each with the versions its provider
// can run (for minor-version hops).
func Build(run *v1alpha1.UpdateRun, strategy *v1alpha1.UpdateStrategySpec, clusters []ClusterInfo) (*Plan, field.ErrorList) {
	var errs field.ErrorList
	sp := field.NewPath("spec", "strategy", "stages")
	owner := map[string]string{} // cluster → stage
	p := &Plan{}
	for i, st := range strategy.Stages {
		stage := Stage{Name: st.Name, MaxConcurrency: intstr.FromInt32(1), Before: st.BeforeStageTasks, After: AfterTasks(st)}
		if st.MaxConcurrency != nil {
			stage.MaxConcurrency = *st.MaxConcurrency
		}
		var sel labels.Selector = labels.Everything()
		if st.LabelSelector != nil {
			sel, _ = metav1.LabelSelectorAsSelector(st.LabelSelector)
		}
		wantGroups := map[string]bool{}
		for _, g := range st.Groups {
			wantGroups[g.Name] = true
		}
		groups := map[string]*Group{}
		for _, ci := range clusters {
			c := ci.Cluster
			if (len(wantGroups) > 0 && !wantGroups[c.Spec.Group]) || !sel.Matches(labels.Set(c.Labels)) {
				continue
			}
			if prev, ok := owner[c.Name]; ok {
				errs = append(errs, field.Invalid(sp.Index(i), st.Name, fmt.Sprintf("cluster %s is also selected by stage %s: each cluster belongs to one stage", c.Name, prev)))
				continue
			}
			owner[c.Name] = st.Name
			steps, err := Steps(run, ci)
			if err != nil {
				errs = append(errs, field.Invalid(field.NewPath("spec", "upgrade", "kubernetesVersion"), run.Spec.Upgrade.KubernetesVersion, err.Error()))
				continue
			}
			gname := c.Spec.Group
			if gname == "" {
				gname = "default"
			}
			g := groups[gname]
			if g == nil {
				g = &Group{Name: gname}
				groups[gname] = g
			}
			g.Clusters = append(g.Clusters, Cluster{Name: c.Name, FromVersion: ci.Version, Steps: steps})
		}
		for _, g := range st.Groups {
			if groups[g.Name] == nil {
				errs = append(errs, field.Invalid(sp.Index(i).Child("groups"), g.Name, "no cluster of the fleet is in this group"))
			}
		}
		var names []string
		for n := range groups {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			stage.Groups = append(stage.Groups, *groups[n])
		}
		p.Stages = append(p.Stages, stage)
	}
	if bg := run.Spec.BlueGreen; run.Spec.Method == v1alpha1.MethodBlueGreen && bg != nil && len(owner) > 1 && !bg.Traffic.Hosts.PerCluster() {
		errs = append(errs, field.Invalid(field.NewPath("spec", "blueGreen", "traffic", "hosts"), bg.Traffic.Hosts.Cluster,
			fmt.Sprintf("the run moves %d clusters: each needs its own names, so put %s in all four (e.g. %s.aks.example.com)", len(owner), v1alpha1.ClusterPlaceholder, v1alpha1.ClusterPlaceholder)))
	}
	for _, ci := range clusters {
		if _, ok := owner[ci.Cluster.Name]; !ok {
			errs = append(errs, field.Invalid(sp, ci.Cluster.Name, "cluster "+ci.Cluster.Name+" is selected by no stage: add its group to a stage, or leave it out of the fleet file"))
		}
	}
	return p, errs
}

// Steps lists a cluster's steps: preflight gates, one control-plane step
// per minor version, one step per node pool, post-upgrade gates.
func Steps(run *v1alpha1.UpdateRun, ci ClusterInfo) ([]string, error) {
	var steps []string
	if len(run.Spec.Gates.Preflight) > 0 {
		steps = append(steps, StepPreflight)
	}
	if run.Spec.Method == v1alpha1.MethodBlueGreen {
		// Green is made at the target directly: no hops, but no downgrade.
		current, err := kubeversion.Parse(ci.Version)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", ci.Cluster.Name, err)
		}
		target, err := kubeversion.Parse(run.Spec.Upgrade.KubernetesVersion)
		if err != nil {
			return nil, err
		}
		if target.CompareMinor(current) < 0 {
			return nil, fmt.Errorf("cluster %s: runs %s: downgrading to %s is not supported", ci.Cluster.Name, current, target)
		}
		if _, err := kubeversion.Resolve(target, ci.Available); err != nil {
			return nil, fmt.Errorf("cluster %s: green cannot run %s: %w", ci.Cluster.Name, run.Spec.Upgrade.KubernetesVersion, err)
		}
		return append(steps, bluegreen.Steps...), nil
	}
	if run.Spec.Upgrade.Type != v1alpha1.UpgradeNodeImageOnly {
		hops, err := Hops(ci.Version, run.Spec.Upgrade.KubernetesVersion, ci.Available)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", ci.Cluster.Name, err)
		}
		for _, h := range hops {
			steps = append(steps, StepControlPlane+" "+h)
		}
	}
	if run.Spec.Upgrade.Type != v1alpha1.UpgradeControlPlaneOnly {
		for _, pool := range ci.NodePools {
			steps = append(steps, StepNodePool+" "+pool)
		}
	}
	if len(run.Spec.Gates.PostUpgrade) > 0 {
		steps = append(steps, StepPostUpgrade)
	}
	return steps, nil
}

// Hops returns the versions a control plane passes through from current to
// target, one minor at a time; empty when it is there already.
func Hops(current, target string, available []kubeversion.Version) ([]string, error) {
	from, err := kubeversion.Parse(current)
	if err != nil {
		return nil, err
	}
	to, err := kubeversion.Parse(target)
	if err != nil {
		return nil, err
	}
	hops, err := kubeversion.Hops(from, to, available)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, h := range hops {
		out = append(out, h.String())
	}
	return out, nil
}

// StepTarget splits "ControlPlane v1.34.4" into its kind and target.
func StepTarget(step string) (kind, target string) {
	kind, target, _ = strings.Cut(step, " ")
	return kind, target
}
