package store

import (
	"fmt"

	"upshift.dev/upshift/api/v1alpha1"
)

// Runs is where update runs are kept: their spec, status, frozen fleet,
// approvals, skips and audit trail. The engine speaks only to this
// interface; Store (files under a state folder) is the standalone
// implementation, and hub mode adds one on a Kubernetes API server. No
// engine code branches on which one it has.
type Runs interface {
	// Create stores a new run; a run of the same name must not exist.
	Create(run *v1alpha1.UpdateRun) error
	// Get reads a run with its status.
	Get(name string) (*v1alpha1.UpdateRun, error)
	// List reads every run, oldest first.
	List() ([]*v1alpha1.UpdateRun, error)
	// SaveSpec writes a run's spec; SetState changes spec.state alone.
	SaveSpec(run *v1alpha1.UpdateRun) error
	SetState(name, state string) error
	// SaveStatus writes a run's status; only the run's driver calls it.
	SaveStatus(name string, status *v1alpha1.UpdateRunStatus) error
	// SaveFleet and Fleet keep the fleet the run started with.
	SaveFleet(name string, data []byte) error
	Fleet(name string) ([]byte, error)
	// Lock takes the right to drive a run (ErrLocked when another has it).
	Lock(name string) (func(), error)
	// Approve, Approvals, Skip and Skips record and read requests made
	// from outside the driver.
	Approve(name string, a Approval) error
	Approvals(name string) (map[string]Approval, error)
	Skip(name string, a Approval) error
	Skips(name string) (map[string]bool, error)
	// Audit appends to the run's audit trail; Events reads it.
	Audit(name string, e Event) error
	Events(name string) ([]Event, error)
}

var _ Runs = (*Store)(nil)

// ApprovalRequester is a store that shows a waiting approval as an object
// people act on (hub mode: an ApprovalRequest). The engine asks for one
// when an approval starts waiting; a store without it shows the wait in
// the run's status alone.
type ApprovalRequester interface {
	RequestApproval(run, key, message string) error
}

// Requests is a store that reads what others ask of a run — its state
// (a stop, a rollback) and its skips — more cheaply than Get and Skips
// (hub mode: from a watch cache, not the API server). The engine polls
// it while it drives; a store without it is read with Get and Skips.
type Requests interface {
	Requested(name string) (state string, skips map[string]bool, err error)
}

// Fence is a store whose lock can be lost while it is held (hub mode: a
// lease another driver takes over after this one paused past it). Lost's
// channel closes then; the engine stops at once, and the store refuses
// the run's status writes from then on. nil: no lock of name is held.
type Fence interface {
	Lost(name string) <-chan struct{}
}

// Resumable refuses to drive a cancelled run on (state Run): it ended for
// good. The error names the ways out.
func Resumable(run *v1alpha1.UpdateRun, state string) error {
	if state != v1alpha1.StateRun || run.Status.Phase != v1alpha1.PhaseCancelled {
		return nil
	}
	return fmt.Errorf("run %s %w: start a new run (another name), or delete this one first to use its name again", run.Name, ErrCancelled)
}
