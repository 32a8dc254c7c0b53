package engine

import (
	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/park"
)

// ParkedError ends a drive that parked at a wait (Engine.Park): nothing
// failed and nothing is held (see package park).
type ParkedError = park.Error

// wake puts a run parked at a wait back to Running once the wait ended.
func wake(s *v1alpha1.UpdateRunStatus) {
	if s.Phase == v1alpha1.PhaseWaiting {
		setRunPhase(s, v1alpha1.PhaseRunning, "")
	}
}

// wakeIfParked is wake for a step that starts: it writes only when the
// run is Waiting (a cluster's maintenance window it was parked at opened).
func (e *Engine) wakeIfParked() {
	e.mu.Lock()
	waiting := e.run.Status.Phase == v1alpha1.PhaseWaiting
	e.mu.Unlock()
	if waiting {
		e.record(wake)
	}
}

// stopWaiting stops a run parked at a wait: the wait, its stage, the
// clusters under way and the run are Stopped, to be resumed from there.
func stopWaiting(s *v1alpha1.UpdateRunStatus, why string) {
	for i := range s.Stages {
		st := &s.Stages[i]
		if st.Phase != v1alpha1.PhaseRunning {
			continue
		}
		st.Phase = v1alpha1.PhaseStopped
		for j := range st.Clusters {
			c := &st.Clusters[j]
			if c.Phase != v1alpha1.PhaseRunning {
				continue
			}
			c.Phase = v1alpha1.PhaseStopped
			for k := range c.Steps {
				if c.Steps[k].Phase == v1alpha1.PhaseWaiting || c.Steps[k].Phase == v1alpha1.PhaseRunning {
					c.Steps[k].Phase = v1alpha1.PhaseStopped
				}
			}
		}
		for _, tasks := range [][]v1alpha1.TaskStatus{st.BeforeTasks, st.AfterTasks} {
			for k := range tasks {
				if tasks[k].Phase == v1alpha1.PhaseWaiting || tasks[k].Phase == v1alpha1.PhaseRunning {
					tasks[k].Phase = v1alpha1.PhaseStopped
				}
			}
		}
	}
	setRunPhase(s, v1alpha1.PhaseStopped, why)
}
