package dashboard

import (
	"slices"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/engine"
)

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// span says how long something took, or for how long it has been running.
func span(start, end *metav1.Time) string {
	switch {
	case start == nil:
		return ""
	case end == nil:
		// A clock time, not an age: the page changes only when the run does
		// (a screen reader hears real changes, not a ticking counter).
		return "since " + start.UTC().Format("15:04:05Z")
	}
	return "took " + end.Sub(start.Time).Round(time.Second).String()
}

// clock is a time as people read it in a table, in UTC.
func clock(t *metav1.Time) string {
	if t == nil {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// approval is an approval that waits: a stage's task, or a cluster's
// Approval gate inside a step (Cluster and Gate set).
type approval struct {
	Stage, Task   string
	Cluster, Gate string
}

// ID tells the approvals of a page apart (the buttons' ids).
func (a approval) ID() string {
	if a.Cluster != "" {
		return a.Cluster + "-" + a.Gate
	}
	return a.Stage + "-" + a.Task
}

func waitingApprovals(run *v1alpha1.UpdateRun) []approval {
	var out []approval
	for _, s := range run.Status.Stages {
		for _, t := range append(append([]v1alpha1.TaskStatus{}, s.BeforeTasks...), s.AfterTasks...) {
			if t.Type == v1alpha1.TaskApproval && t.Phase == v1alpha1.PhaseWaiting {
				out = append(out, approval{Stage: s.Name, Task: t.Name})
			}
		}
	}
	for _, g := range engine.WaitingGateApprovals(run) {
		out = append(out, approval{Stage: g.Stage, Cluster: g.Cluster, Gate: g.Gate})
	}
	return out
}

func canStop(run *v1alpha1.UpdateRun) bool {
	return !run.Status.Ended() && run.Spec.State != v1alpha1.StateStop && run.Status.Phase != v1alpha1.PhaseStopped
}

// canRollBack: a blue-green or canary run whose blue still exists.
func canRollBack(run *v1alpha1.UpdateRun) bool {
	if run.Spec.Method != v1alpha1.MethodBlueGreen && run.Spec.Method != v1alpha1.MethodCanary {
		return false
	}
	if run.Status.Phase == v1alpha1.PhaseRolledBack || run.Spec.State == v1alpha1.StateRollback {
		return false
	}
	for _, s := range run.Status.Stages {
		for _, c := range s.Clusters {
			if c.BlueGreen != nil && c.BlueGreen.BlueDeleted != nil {
				return false
			}
		}
	}
	return true
}

// weight is where a cluster's traffic is: green's share of it.
type weight struct {
	Green int
	Note  string
}

func weights(c v1alpha1.StageClusterStatus) *weight {
	switch {
	case c.Canary != nil:
		w := &weight{Green: c.Canary.Weight, Note: "canary step " + strconv.Itoa(c.Canary.Step)}
		if c.Canary.RolledBack != nil {
			w.Note += ", last rolled back at " + clock(c.Canary.RolledBack)
		}
		return w
	case c.BlueGreen == nil:
		return nil
	case c.BlueGreen.RolledBack != nil:
		return &weight{Green: 0, Note: "rolled back: " + c.BlueGreen.RollbackReason}
	case c.BlueGreen.Switched != nil:
		return &weight{Green: 100, Note: "switched at " + clock(c.BlueGreen.Switched)}
	}
	return &weight{Green: 0, Note: "before the switch"}
}

// newestFirst orders runs by start, the newest on top.
func newestFirst(runs []*v1alpha1.UpdateRun) []*v1alpha1.UpdateRun {
	out := slices.Clone(runs)
	slices.SortStableFunc(out, func(a, b *v1alpha1.UpdateRun) int {
		return b.CreationTimestamp.Compare(a.CreationTimestamp.Time)
	})
	return out
}
