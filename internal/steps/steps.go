package steps

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/registry"
)

// Step kinds of the in-place method; other methods name their own.
const (
	Preflight    = "Preflight"
	ControlPlane = "ControlPlane"
	NodePool     = "NodePool"
	PostUpgrade  = "PostUpgrade"
)

// Step is one planned step of a cluster. Its target travels as fields.
type Step struct {
	// Kind says what the step does: ControlPlane, NodePool, T3-Switch…
	Kind string
	// Version a ControlPlane step moves the control plane to (v1.35.2).
	Version string
	// Pool a NodePool step replaces.
	Pool string
	// Index of a kind a method repeats: a canary's traffic step (from 1).
	Index int
}

// Name is how status and progress show the step: "ControlPlane
// v1.35.2", "NodePool user", "T3-Switch". Nothing parses it back.
func (s Step) Name() string {
	switch {
	case s.Version != "":
		return s.Kind + " " + s.Version
	case s.Pool != "":
		return s.Kind + " " + s.Pool
	case s.Index > 0:
		return fmt.Sprintf("%s %d", s.Kind, s.Index)
	}
	return s.Kind
}

// Of is the step a status entry records.
func Of(st v1alpha1.StepStatus) Step {
	return Step{Kind: st.Kind, Version: st.Version, Pool: st.Pool, Index: st.Index}
}

// Status is a new status entry for the step.
func (s Step) Status() v1alpha1.StepStatus {
	return v1alpha1.StepStatus{Name: s.Name(), Kind: s.Kind, Version: s.Version, Pool: s.Pool, Index: s.Index, Phase: v1alpha1.PhaseNotStarted}
}

// ClusterInfo is a member cluster as the planner sees it.
type ClusterInfo struct {
	Cluster   v1alpha1.Cluster
	Version   string   // the control plane's version now, e.g. v1.33.13
	NodePools []string // pool names, in upgrade order
	// Available are the versions the cluster's provider can run (its
	// Versions), for the hops and the target.
	Available []kubeversion.Version
	// Provider is the cluster's spec.provider; Cannot maps the provider
	// operations it cannot do to why (provider kubeconfig upgrades
	// nothing).
	Provider string
	Cannot   map[string]string
	// Notes are what the provider says about the cluster (maintenance
	// windows); the plan shows them.
	Notes []string
}

// Provider operations a method's steps need (the operation names of the
// exec provider's contract).
const (
	OpUpgradeControlPlane = cluster.OpUpgradeControlPlane
	OpUpgradeNodePool     = cluster.OpUpgradeNodePool
	// OpSoakReadyPods is a soak that waits for the evicted pods'
	// workloads after each node (nodeUpgrade.nodeSoak.readyPods): only
	// providers whose pools upshift drains itself can.
	OpSoakReadyPods = "soak-ready-pods"
	// OpDeleteUndrainable is the DeletePod escalation of a drain that does
	// not finish (nodeUpgrade.undrainable.then DeletePod).
	OpDeleteUndrainable = "delete-undrainable-pods"
	// OpCordonUndrainable leaves a node whose drain does not finish
	// cordoned and goes on (undrainableNodeBehavior Cordon, or
	// undrainable.then Cordon).
	OpCordonUndrainable = "cordon-undrainable-nodes"
	OpCreate            = cluster.OpCreate
	OpDelete            = cluster.OpDelete
)

// Need fails when the cluster's provider cannot do op, naming the step
// that needs it, so a plan says which steps a cluster cannot take.
func (ci ClusterInfo) Need(op, step string) error {
	why, cannot := ci.Cannot[op]
	if !cannot {
		return nil
	}
	return fmt.Errorf("cluster %s: step %s needs %s, which provider %s cannot do: %s", ci.Cluster.Name, step, op, ci.Provider, why)
}

// FromTo parses the cluster's version now and the run's target.
func (ci ClusterInfo) FromTo(target string) (from, to kubeversion.Version, err error) {
	if from, err = kubeversion.Parse(ci.Version); err != nil {
		return from, to, fmt.Errorf("cluster %s: %w", ci.Cluster.Name, err)
	}
	to, err = kubeversion.Parse(target)
	return from, to, err
}

// Planner is a method as the planner sees it.
type Planner interface {
	// Method is the name runs give in spec.method (InPlace, BlueGreen).
	Method() string
	// Validate checks the method's part of a run, with field paths.
	Validate(run *v1alpha1.UpdateRun) field.ErrorList
	// Steps lists a cluster's steps for the run.
	Steps(run *v1alpha1.UpdateRun, ci ClusterInfo) ([]Step, error)
}

// FleetValidator is a Planner with rules over the whole plan, such as
// blue-green's per-cluster names when it moves several clusters.
type FleetValidator interface {
	ValidateFleet(run *v1alpha1.UpdateRun, clusters int) field.ErrorList
}

var planners = registry.New[Planner]("method")

// Register makes a method's planner available; internal/methods calls it
// for each registered method.
func Register(p Planner) { planners.Register(p.Method(), p) }

// Lookup finds the planner of a run's method ("" is InPlace).
func Lookup(method string) (Planner, error) {
	if method == "" {
		method = v1alpha1.MethodInPlace
	}
	if p, ok := planners.Get(method); ok {
		return p, nil
	}
	return nil, fmt.Errorf("method %q is not available: use %s", method, strings.Join(planners.Names(), " or "))
}

// Methods lists the registered methods, sorted.
func Methods() []string { return planners.Names() }
