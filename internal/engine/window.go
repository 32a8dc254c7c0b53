package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// gate is one maintenance window a cluster's steps wait for: upshift's
// own (the cluster's or its group's) or one its provider keeps.
type gate struct {
	w    *window.Window
	spec v1alpha1.MaintenanceWindow
	// name says whose: "the maintenance window", "group prod's
	// maintenance window", "AKS maintenance configuration …".
	name string
}

func (g gate) String() string { return g.name + " (" + window.Describe(g.spec) + ")" }

// gates are the windows a cluster's steps wait for: upshift's own, and
// those the cluster's provider keeps for what this run upgrades (AKS's
// aksManagedAutoUpgradeSchedule for versions, its
// aksManagedNodeOSUpgradeSchedule for node images). A step starts when
// all of them are open.
func (e *Engine) gates(ctx context.Context, fc v1alpha1.Cluster) ([]gate, error) {
	return e.windowGates(ctx, e.run.Status.Strategy, fc, e.run.Spec.Upgrade.Type)
}

// windowGates are the windows a cluster's steps of an upgrade of this
// type wait for under the strategy.
func (e *Engine) windowGates(ctx context.Context, strategy *v1alpha1.UpdateStrategySpec, fc v1alpha1.Cluster, upgradeType string) ([]gate, error) {
	var out []gate
	if spec, whose := windowOf(strategy, fc); spec != nil {
		w, errs := window.Compile(*spec, field.NewPath("spec", "maintenanceWindow"))
		if len(errs) > 0 {
			return nil, fmt.Errorf("%s maintenance window: %w", whose, errs.ToAggregate())
		}
		out = append(out, gate{w: w, spec: *spec, name: theOr(whose) + " maintenance window"})
	}
	m, err := e.Resolve(fc)
	if err != nil {
		return nil, err
	}
	wr, ok := m.Provider.(window.Keeper)
	if !ok {
		return out, nil
	}
	theirs, err := wr.MaintenanceWindows(ctx, m.Name)
	if err != nil {
		return nil, fmt.Errorf("reading the maintenance windows its provider keeps: %w", err)
	}
	holds := holdsFor(upgradeType)
	for _, pw := range theirs {
		if !holds[pw.Holds] {
			continue
		}
		w, errs := window.Compile(pw.Spec, field.NewPath("maintenanceWindow"))
		if len(errs) > 0 {
			return nil, fmt.Errorf("%s: %w", pw.Source, errs.ToAggregate())
		}
		out = append(out, gate{w: w, spec: pw.Spec, name: pw.Source})
	}
	return out, nil
}

// holdsFor says which of a provider's windows hold a run of this upgrade
// type.
func holdsFor(upgrade string) map[string]bool {
	switch upgrade {
	case v1alpha1.UpgradeNodeImageOnly:
		return map[string]bool{window.HoldsNodeImages: true}
	case v1alpha1.UpgradeControlPlaneOnly:
		return map[string]bool{window.HoldsVersions: true}
	default:
		return map[string]bool{window.HoldsVersions: true, window.HoldsNodeImages: true}
	}
}

// together is the first moment from now when every gate is open (now
// when they are), and the gate that closes the way when none comes in
// the next 18 months.
func together(gs []gate, now time.Time) (time.Time, *gate) {
	t := now
	for range 256 {
		moved := false
		for i := range gs {
			opens, _ := gs[i].w.Next(t)
			if opens.IsZero() {
				return time.Time{}, &gs[i]
			}
			if opens.After(t) {
				t, moved = opens, true
			}
		}
		if !moved {
			return t, nil
		}
	}
	return time.Time{}, nil
}

// togetherNote says, for a cluster held by more than one window (upshift's
// and its provider's), when they are next all open at once: what the
// steps will wait for. "" for fewer than two windows, or an override.
func (e *Engine) togetherNote(ctx context.Context, run *v1alpha1.UpdateRun, strategy *v1alpha1.UpdateStrategySpec, fc v1alpha1.Cluster) string {
	if pt := run.Spec.Patch; pt != nil && pt.OverrideMaintenanceWindows {
		return ""
	}
	gs, err := e.windowGates(ctx, strategy, fc, run.Spec.Upgrade.Type)
	if err != nil || len(gs) < 2 {
		return ""
	}
	now := e.now()
	at, never := together(gs, now)
	switch {
	case never != nil:
		return fmt.Sprintf("its windows are never open together in the next 18 months (%s does not open): its steps would wait for good", never)
	case at.IsZero():
		return "its windows (" + describeGates(gs) + ") do not meet in the next 256 openings: its steps would wait for good"
	case !at.After(now):
		return "its " + strconv.Itoa(len(gs)) + " windows are all open now: its steps start at once"
	}
	return fmt.Sprintf("its %d windows are next all open together %s: its steps wait for that", len(gs), at.Format(windowTime))
}

func describeGates(gs []gate) string {
	parts := make([]string, len(gs))
	for i, g := range gs {
		parts[i] = g.String()
	}
	return strings.Join(parts, " and ")
}

// waitWindow holds a cluster's next step until the cluster's maintenance
// windows are open together: upshift's own (its own or its group's) and
// those its provider keeps (AKS's maintenance configurations). Each time
// the opening it waits for changes, waiting is told why and until when.
// It ends early on a stop request (ErrStopped) or a skip of the cluster
// (errSkippedWhileWaiting); with Park, a window that opens later than
// Park from now ends it with a *ParkedError until the opening.
func (e *Engine) waitWindow(ctx context.Context, fc v1alpha1.Cluster, waiting func(msg string)) error {
	gs, err := e.gates(ctx, fc)
	if err != nil || len(gs) == 0 {
		return err
	}
	what := describeGates(gs)
	e.mu.Lock()
	p := e.run.Spec.Patch
	e.mu.Unlock()
	if p != nil && p.OverrideMaintenanceWindows {
		if opens, _ := together(gs, e.now()); opens.IsZero() || opens.After(e.now()) {
			e.emit(Event{Cluster: fc.Name, Type: "WindowOverridden", Message: fmt.Sprintf("%s closed; the emergency patch overrides it (requested by %s: %s)", isAre(what, len(gs)), orUnknown(p.RequestedBy), orUnknown(p.Reason))})
		}
		return nil
	}
	var told time.Time
	for {
		now := e.now()
		opens, blocking := together(gs, now)
		switch {
		case opens.IsZero() && blocking != nil:
			return fmt.Errorf("%s does not open in the next 18 months: change its schedule or its notAllowedDates", blocking)
		case opens.IsZero():
			return fmt.Errorf("%s are never open together in the next 18 months: change their schedules", what)
		case !opens.After(now):
			return nil
		case !opens.Equal(told):
			told = opens
			when := "opens"
			if len(gs) > 1 {
				when = "all open"
			}
			msg := fmt.Sprintf("waiting for %s: %s %s, in %s", what, when, opens.Format(windowTime), opens.Sub(now).Round(time.Second))
			if p != nil {
				msg += "; `" + e.command("resume %s --override-maintenance-windows --reason TEXT", e.run.Name) + "` overrides it"
			}
			waiting(msg)
			if e.Park > 0 && opens.Sub(now) > e.Park {
				return &ParkedError{Until: opens, Why: fmt.Sprintf("cluster %s %s", fc.Name, msg)}
			}
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
			e.emit(Event{Cluster: fc.Name, Type: "WindowOverridden", Message: fmt.Sprintf("%s closed; the emergency patch overrides it from now (requested by %s: %s)", isAre(what, len(gs)), orUnknown(p.RequestedBy), orUnknown(p.Reason))})
			return nil
		}
	}
}

// isAre is "X is" or "X and Y are".
func isAre(what string, n int) string {
	if n > 1 {
		return what + " are"
	}
	return what + " is"
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
