package hub

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/hubstore"
)

// parkedRun is a run whose drive parked at a wait (engine.ParkedError).
type parkedRun struct {
	// until is when its wait ends by itself (a soak); zero: only a
	// change ends it (an approval).
	until time.Time
	// waitsFor is what could end the wait early, as the watch cache
	// showed it when the drive began: the spec, the requested state, the
	// skips and the approvals. A change of any of them drives the run
	// again.
	waitsFor string
}

// parkedRecheck is how often a parked run is looked at with nothing
// changed: the watch cache's events wake it sooner.
const parkedRecheck = 30 * time.Second

// stillParked says whether a parked run should stay parked, and when to
// look at it again; a run whose wait is over, or whose requests or
// approvals changed, is unparked, to be driven.
func (r *Reconciler) stillParked(ctx context.Context, run *v1alpha1.UpdateRun) (time.Duration, bool) {
	r.mu.Lock()
	p, ok := r.parked[run.Name]
	r.mu.Unlock()
	if !ok {
		return 0, false
	}
	left := parkedRecheck
	if !p.until.IsZero() {
		left = min(left, time.Until(p.until))
	}
	if left > 0 && r.waitsFor(ctx, run) == p.waitsFor {
		return left, true
	}
	r.unpark(run.Name)
	return 0, false
}

func (r *Reconciler) unpark(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.parked, name)
}

// waitsFor sums up, from the watch cache, what could end a run's wait:
// its spec's generation, its requested state, its skips and its approved
// ApprovalRequests.
func (r *Reconciler) waitsFor(ctx context.Context, run *v1alpha1.UpdateRun) string {
	// The generation moves with the spec (an emergency patch's override
	// of the maintenance windows).
	parts := []string{strconv.FormatInt(run.Generation, 10), run.Spec.State, run.Annotations[hubstore.AnnotationSkips]}
	var list v1alpha1.ApprovalRequestList
	if err := r.Cache.List(ctx, &list, client.InNamespace(run.Namespace), client.MatchingLabels{hubstore.LabelRun: run.Name}); err != nil {
		return "unreadable at " + time.Now().String() // never equal to what a drive saw
	}
	approved := slices.Sorted(maps.Keys(hubstore.Approved(list.Items, run.Name)))
	return strings.Join(append(parts, approved...), "\x00")
}
