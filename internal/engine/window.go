package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/window"
)

// windowTime is how progress and plans write a window's times.
const windowTime = "Mon 2 Jan 15:04 MST"

// errSkippedWhileWaiting says the cluster was skipped while its step
// waited for the maintenance window.
var errSkippedWhileWaiting = errors.New("skipped while waiting for its maintenance window")

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// windowOf is the maintenance window that holds a cluster's steps: its
// own, or else its group's in the strategy; whose says which, for
// messages ("its", "group prod's").
func windowOf(strategy *v1alpha1.UpdateStrategySpec, fc v1alpha1.Cluster) (w *v1alpha1.MaintenanceWindow, whose string) {
	if fc.Spec.MaintenanceWindow != nil {
		return fc.Spec.MaintenanceWindow, "its"
	}
	if strategy == nil || fc.Spec.Group == "" {
		return nil, ""
	}
	for _, st := range strategy.Stages {
		for _, g := range st.Groups {
			if g.Name == fc.Spec.Group && g.MaintenanceWindow != nil {
				return g.MaintenanceWindow, "group " + g.Name + "'s"
			}
		}
	}
	return nil, ""
}

// theOr is "the" for a cluster's own window, else whose it is.
func theOr(whose string) string {
	if whose == "its" {
		return "the"
	}
	return whose
}

// waitWindow holds a cluster's next step until the cluster's maintenance
// window (its own or its group's) is open. Each time the opening it waits
// for changes, waiting is told why and until when. It ends early on a
// stop request (ErrStopped) or a skip of the cluster
// (errSkippedWhileWaiting).
func (e *Engine) waitWindow(ctx context.Context, fc v1alpha1.Cluster, waiting func(msg string)) error {
	spec, whose := windowOf(e.run.Status.Strategy, fc)
	if spec == nil {
		return nil
	}
	w, errs := window.Compile(*spec, field.NewPath("spec", "maintenanceWindow"))
	if len(errs) > 0 {
		return fmt.Errorf("%s maintenance window: %w", whose, errs.ToAggregate())
	}
	e.mu.Lock()
	p := e.run.Spec.Patch
	e.mu.Unlock()
	if p != nil && p.OverrideMaintenanceWindows {
		if opens, _ := w.Next(e.now()); opens.IsZero() || opens.After(e.now()) {
			e.emit(Event{Cluster: fc.Name, Type: "WindowOverridden", Message: fmt.Sprintf("%s maintenance window (%s) is closed; the emergency patch overrides it (requested by %s: %s)", theOr(whose), window.Describe(*spec), orUnknown(p.RequestedBy), orUnknown(p.Reason))})
		}
		return nil
	}
	var told time.Time
	for {
		now := e.now()
		opens, _ := w.Next(now)
		switch {
		case opens.IsZero():
			return fmt.Errorf("%s maintenance window (%s) does not open in the next 18 months: change its schedule or its notAllowedDates", whose, window.Describe(*spec))
		case !opens.After(now):
			return nil
		case !opens.Equal(told):
			told = opens
			msg := fmt.Sprintf("waiting for %s maintenance window (%s): opens %s, in %s", theOr(whose), window.Describe(*spec), opens.Format(windowTime), opens.Sub(now).Round(time.Second))
			if p != nil {
				msg += fmt.Sprintf("; `upshift resume %s --override-maintenance-windows --reason TEXT` overrides it", e.run.Name)
			}
			waiting(msg)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.stop:
			return ErrStopped
		case <-time.After(min(e.Poll, opens.Sub(now))):
		}
		if e.skipped(store.ClusterKey(fc.Name)) {
			return errSkippedWhileWaiting
		}
		if p := e.overridden(); p != nil {
			e.emit(Event{Cluster: fc.Name, Type: "WindowOverridden", Message: fmt.Sprintf("%s maintenance window (%s) is closed; the emergency patch overrides it from now (requested by %s: %s)", theOr(whose), window.Describe(*spec), orUnknown(p.RequestedBy), orUnknown(p.Reason))})
			return nil
		}
	}
}

// overridden reads the stored spec of an emergency patch waiting for a
// window: `upshift resume --override-maintenance-windows` may have given
// it the override since it started. It returns the patch once it has.
func (e *Engine) overridden() *v1alpha1.PatchSpec {
	e.mu.Lock()
	mine := e.run.Spec.Patch
	e.mu.Unlock()
	if mine == nil {
		return nil
	}
	stored, err := e.Store.Get(e.run.Name)
	if err != nil || stored.Spec.Patch == nil || !stored.Spec.Patch.OverrideMaintenanceWindows {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.run.Spec.Patch = stored.Spec.Patch
	return stored.Spec.Patch
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
