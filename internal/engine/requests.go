package engine

import (
	"fmt"
	"slices"
	"strings"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/methods"
)

// CheckApproval says whether an approval names something of the run that
// still waits for one: a stage with an Approval task (task, when given,
// names one), or a cluster of the run with an Approval gate of that name.
// Nothing is recorded for a request that names nothing.
func CheckApproval(run *v1alpha1.UpdateRun, stage, task, cluster, gate string) error {
	if stage != "" {
		st, err := findStage(run, stage)
		if err != nil {
			return err
		}
		var approvals []string
		for _, t := range append(append([]v1alpha1.TaskStatus{}, st.BeforeTasks...), st.AfterTasks...) {
			if t.Type != v1alpha1.TaskApproval || (task != "" && t.Name != task) {
				continue
			}
			if t.Phase == v1alpha1.PhaseCompleted || t.Phase == v1alpha1.PhaseSkipped {
				return fmt.Errorf("approval %s of stage %s is %s already", t.Name, stage, t.Phase)
			}
			approvals = append(approvals, t.Name)
		}
		if len(approvals) == 0 {
			if task != "" {
				return fmt.Errorf("stage %s of run %s has no approval task %q", stage, run.Name, task)
			}
			return fmt.Errorf("stage %s of run %s has no approval task to approve", stage, run.Name)
		}
		return nil
	}
	if _, err := findCluster(run, cluster); err != nil {
		return err
	}
	var names []string
	for _, g := range approvalGates(run) {
		if g == gate {
			return nil
		}
		names = append(names, g)
	}
	if len(names) == 0 {
		return fmt.Errorf("run %s has no Approval gate", run.Name)
	}
	return fmt.Errorf("run %s has no Approval gate %q (it has %s)", run.Name, gate, strings.Join(names, ", "))
}

// CheckSkip says whether a skip names a cluster, stage or stage task of
// the run that is not done yet.
func CheckSkip(run *v1alpha1.UpdateRun, stage, task, cluster string) error {
	if cluster != "" {
		c, err := findCluster(run, cluster)
		if err != nil {
			return err
		}
		if c.Phase == v1alpha1.PhaseCompleted || c.Phase == v1alpha1.PhaseSkipped {
			return fmt.Errorf("cluster %s of run %s is %s already", cluster, run.Name, c.Phase)
		}
		return nil
	}
	st, err := findStage(run, stage)
	if err != nil {
		return err
	}
	if task == "" {
		if st.Phase == v1alpha1.PhaseCompleted || st.Phase == v1alpha1.PhaseSkipped {
			return fmt.Errorf("stage %s of run %s is %s already", stage, run.Name, st.Phase)
		}
		return nil
	}
	var names []string
	for _, t := range append(append([]v1alpha1.TaskStatus{}, st.BeforeTasks...), st.AfterTasks...) {
		if t.Name == task {
			return nil
		}
		names = append(names, t.Name)
	}
	return fmt.Errorf("stage %s of run %s has no task %q (it has %s)", stage, run.Name, task, orNone(names))
}

func findStage(run *v1alpha1.UpdateRun, name string) (*v1alpha1.StageStatus, error) {
	var names []string
	for i := range run.Status.Stages {
		if run.Status.Stages[i].Name == name {
			return &run.Status.Stages[i], nil
		}
		names = append(names, run.Status.Stages[i].Name)
	}
	return nil, fmt.Errorf("run %s has no stage %q (its stages: %s)", run.Name, name, orNone(names))
}

func findCluster(run *v1alpha1.UpdateRun, name string) (*v1alpha1.StageClusterStatus, error) {
	var names []string
	for i := range run.Status.Stages {
		for j := range run.Status.Stages[i].Clusters {
			c := &run.Status.Stages[i].Clusters[j]
			if c.Name == name {
				return c, nil
			}
			names = append(names, c.Name)
		}
	}
	return nil, fmt.Errorf("run %s has no cluster %q (its clusters: %s)", run.Name, name, orNone(names))
}

// approvalGates are the names of the run's cluster gates of type Approval:
// the run's own, and those of its method's settings.
func approvalGates(run *v1alpha1.UpdateRun) []string {
	all := append(methods.ApprovalGates(run.Spec.Gates.Preflight), methods.ApprovalGates(run.Spec.Gates.PostUpgrade)...)
	if m, err := methods.Lookup(run.Spec.Method); err == nil {
		if g, ok := m.(methods.ApprovalGater); ok {
			all = append(all, g.ApprovalGates(run)...)
		}
	}
	var out []string
	for _, name := range all {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// GateApproval is a cluster's Approval gate that waits, inside a step.
type GateApproval struct{ Stage, Cluster, Gate string }

// WaitingGateApprovals are the cluster Approval gates the run waits for:
// a step under way keeps the approval gates that wait (gateWaits) until
// they are given.
func WaitingGateApprovals(run *v1alpha1.UpdateRun) []GateApproval {
	names := approvalGates(run)
	var out []GateApproval
	for _, st := range run.Status.Stages {
		for _, c := range st.Clusters {
			for _, step := range c.Steps {
				if step.Phase != v1alpha1.PhaseWaiting && step.Phase != v1alpha1.PhaseRunning {
					continue
				}
				for _, w := range step.GateWaits {
					if w.Failures == 0 && slices.Contains(names, w.Gate) {
						out = append(out, GateApproval{Stage: st.Name, Cluster: c.Name, Gate: w.Gate})
					}
				}
			}
		}
	}
	return out
}
