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
	"upshift.dev/upshift/internal/steps"
)

// ClusterInfo is a member cluster as the planner sees it.
type ClusterInfo = steps.ClusterInfo

// Plan is what a run will do.
type Plan struct {
	Stages []Stage
	// NodeImage the run's pools move to, from the provider's catalogue
	// ("" keeps each pool's image).
	NodeImage string
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
	Steps       []steps.Step
	// Notes are what the cluster's provider says about it.
	Notes []string
}

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
	planner, err := steps.Lookup(run.Spec.Method)
	if err != nil {
		return nil, field.ErrorList{field.NotSupported(field.NewPath("spec", "method"), run.Spec.Method, steps.Methods())}
	}
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
			gname := c.Spec.Group
			if gname == "" {
				gname = "default"
			}
			g := groups[gname]
			if g == nil {
				g = &Group{Name: gname}
				groups[gname] = g
			}
			clusterSteps, err := planner.Steps(run, ci)
			if err != nil {
				// The cluster is in its group all the same: one error, not
				// a second that says the group is empty.
				errs = append(errs, field.Invalid(field.NewPath("spec", "upgrade", "kubernetesVersion"), run.Spec.Upgrade.KubernetesVersion, err.Error()))
				continue
			}
			g.Clusters = append(g.Clusters, Cluster{Name: c.Name, FromVersion: ci.Version, Steps: clusterSteps, Notes: ci.Notes})
		}
		for _, g := range st.Groups {
			if groups[g.Name] == nil {
				why := "no cluster of the fleet is in this group"
				if len(run.Spec.Clusters) > 0 {
					why = "none of spec.clusters (" + strings.Join(run.Spec.Clusters, ", ") + ") is in this group: leave the group out, or name one of its clusters"
				}
				errs = append(errs, field.Invalid(sp.Index(i).Child("groups"), g.Name, why))
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
	if fv, ok := planner.(steps.FleetValidator); ok {
		errs = append(errs, fv.ValidateFleet(run, len(owner))...)
	}
	for _, ci := range clusters {
		if _, ok := owner[ci.Cluster.Name]; !ok {
			errs = append(errs, field.Invalid(sp, ci.Cluster.Name, "cluster "+ci.Cluster.Name+" is selected by no stage: add its group to a stage, or leave it out of the fleet file"))
		}
	}
	return p, errs
}
