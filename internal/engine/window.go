package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"upshift.dev/upshift/api/v1alpha1"
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

// waitWindow holds a cluster's next step until the cluster's maintenance
// window is open. Each time the opening it waits for changes, waiting is
// told why and until when. It ends early on a stop request (ErrStopped) or
// a skip of the cluster (errSkippedWhileWaiting).
func (e *Engine) waitWindow(ctx context.Context, fc v1alpha1.Cluster, waiting func(msg string)) error {
	spec := fc.Spec.MaintenanceWindow
	if spec == nil {
		return nil
	}
	w, errs := window.Compile(*spec, field.NewPath("spec", "maintenanceWindow"))
	if len(errs) > 0 {
		return fmt.Errorf("its maintenance window: %w", errs.ToAggregate())
	}
	var told time.Time
	for {
		now := e.now()
		opens, _ := w.Next(now)
		switch {
		case opens.IsZero():
			return fmt.Errorf("its maintenance window (%s) does not open in the next 18 months: change its schedule or its notAllowedDates", window.Describe(*spec))
		case !opens.After(now):
			return nil
		case !opens.Equal(told):
			told = opens
			waiting(fmt.Sprintf("waiting for the maintenance window (%s): opens %s, in %s", window.Describe(*spec), opens.Format(windowTime), opens.Sub(now).Round(time.Second)))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.stop:
			return ErrStopped
		case <-time.After(min(e.Poll, opens.Sub(now))):
		}
		if e.skipped("cluster/" + fc.Name) {
			return errSkippedWhileWaiting
		}
	}
}
