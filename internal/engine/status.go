package engine

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
)

// ErrStatusNotSaved says the run's status could not be written: the run
// stops at the next step boundary rather than go on with a record that
// no longer says what was done.
var ErrStatusNotSaved = errors.New("the run's status could not be saved")

// statusSaveAttempts and statusSaveBackoff bound how long a failing
// status write is retried (about 3 s in all) before the run stops.
const (
	statusSaveAttempts = 5
	statusSaveBackoff  = 200 * time.Millisecond
)

// record changes the status under the lock and saves it; it returns once
// a write that holds the change is done. Writes are serialized and each
// saves the status as it is then, so the changes of clusters that record
// while a write is under way all go out in the next one (a group commit:
// a run over many clusters at once does not write once per change). A
// save that fails is retried; one that still fails is kept (the first
// such error) for saved to return, so the run stops at its next step
// boundary rather than go on with a record that no longer says what was
// done. Every status write goes through here.
func (e *Engine) record(fn func(s *v1alpha1.UpdateRunStatus)) {
	e.mu.Lock()
	fn(&e.run.Status)
	e.run.Status.Progress = progress(&e.run.Status)
	e.run.Status.ObservedGeneration = e.run.Generation
	e.changes++
	mine, failing := e.changes, e.saveErr != nil
	e.mu.Unlock()

	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	if e.savedChanges >= mine {
		return // a write since this change held it
	}
	e.mu.Lock()
	status, upTo, name := e.run.Status.DeepCopy(), e.changes, e.run.Name
	e.mu.Unlock()
	attempts := statusSaveAttempts
	if failing {
		attempts = 1 // already failing: one try, the run is stopping
	}
	var err error
	for attempt := range attempts {
		if attempt > 0 {
			time.Sleep(statusSaveBackoff << (attempt - 1))
		}
		if err = e.Store.SaveStatus(name, status); err == nil {
			e.savedChanges = upTo
			return
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.saveErr == nil {
		e.saveErr = fmt.Errorf("%w (run %s): %w; the steps done so far are idempotent: fix the state folder, then `upshift resume %s`", ErrStatusNotSaved, name, err, name)
	}
}

// update is record for a caller that stops on a failed write.
func (e *Engine) update(fn func(s *v1alpha1.UpdateRunStatus)) error {
	e.record(fn)
	return e.saved()
}

// saved returns the status write that failed, if any.
func (e *Engine) saved() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.saveErr
}

// setRunPhase sets the run's phase and message, and the conditions that
// follow from them: Progressing while it runs or waits, Ready once it
// completed, Failed and RolledBack as they happen. The reason of each is
// the phase.
func setRunPhase(s *v1alpha1.UpdateRunStatus, phase, msg string) {
	s.Phase, s.Message = phase, msg
	cond := func(t string, on bool) {
		status := metav1.ConditionFalse
		if on {
			status = metav1.ConditionTrue
		}
		m := msg
		if m == "" {
			m = "run is " + phase
		}
		meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: t, Status: status, Reason: phase, Message: m})
	}
	cond(v1alpha1.ConditionProgressing, phase == v1alpha1.PhaseRunning || phase == v1alpha1.PhaseWaiting)
	cond(v1alpha1.ConditionReady, phase == v1alpha1.PhaseCompleted)
	cond(v1alpha1.ConditionFailed, phase == v1alpha1.PhaseFailed)
	cond(v1alpha1.ConditionRolledBack, phase == v1alpha1.PhaseRolledBack)
}

// progress is "N/M clusters": the run's clusters that are done (completed
// or skipped) of all it holds.
func progress(s *v1alpha1.UpdateRunStatus) string {
	done, all := 0, 0
	for _, st := range s.Stages {
		for _, c := range st.Clusters {
			all++
			if c.Phase == v1alpha1.PhaseCompleted || c.Phase == v1alpha1.PhaseSkipped {
				done++
			}
		}
	}
	if all == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d clusters", done, all)
}
