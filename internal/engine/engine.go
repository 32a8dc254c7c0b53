package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/fleet"
	"upshift.dev/upshift/internal/gates"
	"upshift.dev/upshift/internal/methods"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/park"
	"upshift.dev/upshift/internal/plan"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/providers/traffic"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/window"
)

// Member is a fleet cluster the engine can act on (providers/cluster).
type Member = fleetmember.Member

// Event is a line of progress, also written to the audit log.
type Event = store.Event

// Engine drives runs kept in a store.
type Engine struct {
	Store store.Runs
	Fleet []v1alpha1.Cluster
	// CommandFlags are appended to every upshift command the engine
	// suggests (approve, skip, retry, resume), so that it reaches the
	// run where it is kept: a hub's engines set the hub's flags.
	CommandFlags string
	// Resolve finds each fleet cluster's provider (fleetmember.NewResolver
	// over the registered providers); Kubernetes versions come from it.
	Resolve fleetmember.Resolver
	// Progress receives every event; nil discards.
	Progress func(Event)
	// Poll is how often waits look for approvals, skips and stop requests.
	Poll time.Duration
	// Now is the clock maintenance windows are read by; nil is time.Now.
	Now func() time.Time
	// NewTraffic builds a blue-green run's traffic provider (default
	// traffickinds.New, over the registered traffic providers).
	NewTraffic func(v1alpha1.TrafficSpec) (traffic.Provider, error)
	// Park, when set, ends a drive at a stage's approval that was not
	// given, or at a soak with more than Park left, instead of waiting in
	// it: Drive returns a *ParkedError that says until when, with the run
	// Waiting and no lock held. The next Drive goes on from there and
	// says nothing it already said. A hub sets it (to its lease's
	// duration), so that a waiting run holds no goroutine; 0 never parks.
	Park time.Duration
	// OnReplaced is told when green replaces blue as a fleet cluster, to
	// update the user's fleet file.
	// field is the path of the fleet Cluster's field that names it.
	OnReplaced func(cluster string, field []string, green string) error

	// busy holds the name of the run being driven: one Engine drives one
	// run at a time (Drive and Rollback refuse a second).
	busy atomic.Pointer[string]

	// The state of the run being driven, set anew by begin.
	traffic    traffic.Provider
	rollback   chan struct{}
	rollbackMu sync.Once
	mu         sync.Mutex
	run        *v1alpha1.UpdateRun
	skips      map[string]bool
	stop       chan struct{}
	stopMu     sync.Once
	// cancel is closed once someone asked to end the run for good.
	cancel   chan struct{}
	cancelMu sync.Once
	// unparked: the run being driven was parked (Waiting) when this
	// drive began; what it said then is not said again.
	unparked bool
	// saveErr is the first status write that failed for good.
	saveErr error
	// changes counts the status changes recorded (under mu); savedChanges
	// how many of them the last write held (under saveMu).
	changes      uint64
	saveMu       sync.Mutex
	savedChanges uint64
}

// ErrBusy says an Engine was asked to drive a second run while it drives
// one; use one Engine per run driven at the same time.
var ErrBusy = errors.New("this engine is already driving a run")

// acquire marks the engine busy with a run; release frees it.
func (e *Engine) acquire(name string) (release func(), err error) {
	if !e.busy.CompareAndSwap(nil, &name) {
		return nil, fmt.Errorf("%w (%s), not %s: use one Engine per run", ErrBusy, *e.busy.Load(), name)
	}
	return func() { e.busy.Store(nil) }, nil
}

// begin sets the per-run state for a run about to be driven or rolled
// back; nothing of a previous run carries over.
func (e *Engine) begin(run *v1alpha1.UpdateRun) {
	// saveMu before mu, never inside it: record takes them in this order.
	e.saveMu.Lock()
	e.savedChanges = 0
	e.saveMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.run, e.stop, e.rollback, e.cancel = run, make(chan struct{}), make(chan struct{}), make(chan struct{})
	e.stopMu, e.rollbackMu, e.cancelMu = sync.Once{}, sync.Once{}, sync.Once{}
	e.traffic, e.skips, e.saveErr = nil, nil, nil
	e.changes = 0
	e.unparked = run.Status.Phase == v1alpha1.PhaseWaiting
}

// Outcome of Drive.
var (
	ErrStopped   = errors.New("the run was stopped")
	ErrFailed    = errors.New("the run failed")
	ErrCancelled = errors.New("the run was cancelled")
)

// Initialize validates a run against the fleet, stores it, the fleet and
// its plan, and returns the plan. With state Initialize nothing more happens.
func (e *Engine) Initialize(ctx context.Context, run *v1alpha1.UpdateRun, strategy *v1alpha1.UpdateStrategySpec) (*plan.Plan, error) {
	// A run limited to spec.clusters holds, and freezes, those alone.
	clusters, err := FleetOf(run, e.Fleet)
	if err != nil {
		return nil, err
	}
	e.Fleet = clusters
	p, err := e.Plan(ctx, run, strategy)
	if err != nil {
		return nil, err
	}
	frozen, err := fleet.Marshal(e.Fleet)
	if err != nil {
		return nil, err
	}
	if err := e.Store.Create(run); err != nil {
		return nil, err
	}
	// The fleet as it is now: resume, rollback and status read it, even if
	// the user's fleet file changes.
	if err := e.Store.SaveFleet(run.Name, frozen); err != nil {
		return nil, err
	}
	status := InitialStatus(p, strategy, e.Fleet)
	status.NodeImage = p.NodeImage
	if err := e.Store.SaveStatus(run.Name, &status); err != nil {
		return nil, err
	}
	_ = e.Store.Audit(run.Name, Event{Time: time.Now().UTC(), Type: "Initialized", Message: fmt.Sprintf("%d stages, %d clusters", len(p.Stages), len(e.Fleet))})
	return p, nil
}

// command is an upshift command the engine suggests, with the flags that
// reach the run where it is kept.
func (e *Engine) command(format string, args ...any) string {
	return "upshift " + fmt.Sprintf(format, args...) + e.CommandFlags
}

// FleetOf is the part of fleet a run holds: the clusters its
// spec.clusters names, in the fleet's order, or all of them. A name that
// is no cluster of the fleet is bad input.
func FleetOf(run *v1alpha1.UpdateRun, fleet []v1alpha1.Cluster) ([]v1alpha1.Cluster, error) {
	if len(run.Spec.Clusters) == 0 {
		return fleet, nil
	}
	want := map[string]bool{}
	for _, n := range run.Spec.Clusters {
		want[n] = true
	}
	var out []v1alpha1.Cluster
	var known []string
	for _, c := range fleet {
		known = append(known, c.Name)
		if want[c.Name] {
			out = append(out, c)
			delete(want, c.Name)
		}
	}
	if len(want) > 0 {
		missing := slices.Sorted(maps.Keys(want))
		return nil, &InvalidError{Msg: fmt.Sprintf("spec.clusters names %s, which the fleet does not hold (it holds %s)", strings.Join(missing, ", "), strings.Join(known, ", "))}
	}
	return out, nil
}

// Plan computes the plan of a run over the fleet without storing anything.
func (e *Engine) Plan(ctx context.Context, run *v1alpha1.UpdateRun, strategy *v1alpha1.UpdateStrategySpec) (*plan.Plan, error) {
	if errs := plan.Validate(run, strategy); len(errs) > 0 {
		return nil, &InvalidError{Msg: plan.ErrorsString(errs)}
	}
	clusters, err := FleetOf(run, e.Fleet)
	if err != nil {
		return nil, err
	}
	var infos []plan.ClusterInfo
	var images *nodeimages.Feed
	for _, c := range clusters {
		m, err := e.Resolve(c)
		if err != nil {
			return nil, &UnresolvedError{Cluster: c.Name, Err: err}
		}
		if ni, ok := m.Provider.(nodeimages.Source); ok && images == nil {
			if images, err = ni.NodeImages(ctx); err != nil {
				return nil, fmt.Errorf("cluster %s: reading the node images its provider offers: %w", c.Name, err)
			}
		}
		got, err := m.Provider.Get(ctx, m.Name)
		if err != nil {
			return nil, fmt.Errorf("cluster %s is unreachable: %w", c.Name, err)
		}
		available, err := m.Provider.Versions(ctx)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: reading the versions its provider offers: %w", c.Name, err)
		}
		info := plan.ClusterInfo{Cluster: c, Version: got.KubernetesVersion, Available: available, Provider: c.Spec.Provider, Cannot: fleetmember.Cannot(c.Spec.Provider)}
		for _, np := range got.NodePools {
			info.NodePools = append(info.NodePools, np.Name)
		}
		if d, ok := m.Provider.(cluster.Describer); ok {
			notes, err := d.Describe(ctx, m.Name)
			if err != nil {
				notes = append(notes, "could not read what the provider says about it: "+err.Error())
			}
			info.Notes = notes
		}
		if w, whose := windowOf(strategy, c); w != nil {
			note := "upshift's maintenance window: " + window.Describe(*w)
			if whose != "its" {
				note = "upshift's maintenance window (" + whose + "): " + window.Describe(*w)
			}
			if cw, errs := window.Compile(*w, field.NewPath("spec", "maintenanceWindow")); len(errs) == 0 {
				now := e.now()
				if opens, closes := cw.Next(now); opens.IsZero() {
					note += "; it does not open in the next 18 months"
				} else if !opens.After(now) {
					note += "; open now, until " + closes.Format(windowTime)
				} else {
					note += "; opens " + opens.Format(windowTime)
				}
			}
			if pt := run.Spec.Patch; pt != nil && pt.OverrideMaintenanceWindows {
				note += "; the emergency patch overrides it"
			}
			info.Notes = append(info.Notes, note)
		}
		if note := e.togetherNote(ctx, run, strategy, c); note != "" {
			info.Notes = append(info.Notes, note)
		}
		infos = append(infos, info)
	}
	p, errs := plan.Build(run, strategy, infos)
	if len(errs) > 0 {
		return nil, &InvalidError{Msg: plan.ErrorsString(errs)}
	}
	image, err := resolveImage(run, images)
	if err != nil {
		return nil, &InvalidError{Msg: err.Error()}
	}
	p.NodeImage = image
	return p, nil
}

// InvalidError is a run that cannot be planned; nothing was changed.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return "the update run is invalid:\n" + e.Msg }

// UnresolvedError is a fleet cluster upshift cannot act on as the fleet
// file describes it (no such local cluster, a kubeconfig or an exec
// command that is missing): bad input, and nothing was changed.
type UnresolvedError struct {
	Cluster string
	Err     error
}

func (e *UnresolvedError) Error() string { return fmt.Sprintf("cluster %s: %v", e.Cluster, e.Err) }
func (e *UnresolvedError) Unwrap() error { return e.Err }

// InitialStatus lays out the status tree of a plan.
func InitialStatus(p *plan.Plan, strategy *v1alpha1.UpdateStrategySpec, fleet []v1alpha1.Cluster) v1alpha1.UpdateRunStatus {
	s := v1alpha1.UpdateRunStatus{Strategy: strategy.DeepCopy()}
	setRunPhase(&s, v1alpha1.PhaseNotStarted, "")
	for _, c := range fleet {
		s.Clusters = append(s.Clusters, c.Name)
	}
	for _, st := range p.Stages {
		ss := v1alpha1.StageStatus{Name: st.Name, Phase: v1alpha1.PhaseNotStarted}
		for _, t := range st.Before {
			ss.BeforeTasks = append(ss.BeforeTasks, v1alpha1.TaskStatus{Name: taskName(t), Type: t.Type, Phase: v1alpha1.PhaseNotStarted})
		}
		for _, t := range st.After {
			ss.AfterTasks = append(ss.AfterTasks, v1alpha1.TaskStatus{Name: taskName(t), Type: t.Type, Phase: v1alpha1.PhaseNotStarted})
		}
		for _, g := range st.Groups {
			for _, c := range g.Clusters {
				cs := v1alpha1.StageClusterStatus{Name: c.Name, Group: g.Name, Phase: v1alpha1.PhaseNotStarted, FromVersion: c.FromVersion}
				for _, step := range c.Steps {
					cs.Steps = append(cs.Steps, step.Status())
				}
				ss.Clusters = append(ss.Clusters, cs)
			}
		}
		s.Stages = append(s.Stages, ss)
	}
	return s
}

func taskName(t v1alpha1.StageTask) string {
	if t.Name != "" {
		return t.Name
	}
	if t.Type == v1alpha1.TaskGate && t.Gate != nil {
		return t.Gate.Name
	}
	return t.Type
}

// resolveImage is the node image a run's pools move to, from the
// catalogue of the fleet's provider: the newest for Latest and Consistent
// (recorded in status, so a Consistent run keeps every cluster on it), the
// named one for Custom, which must be in the catalogue; "" keeps each
// pool's image.
func resolveImage(run *v1alpha1.UpdateRun, images *nodeimages.Feed) (string, error) {
	sel := run.Spec.Upgrade.NodeImageSelection
	switch {
	case sel == nil && run.Spec.Upgrade.Type != v1alpha1.UpgradeNodeImageOnly:
		return "", nil
	case sel != nil && sel.Type == v1alpha1.NodeImageCustom:
		if images != nil {
			if _, err := images.Require(sel.Image); err != nil {
				return "", fmt.Errorf("spec.upgrade.nodeImageSelection.image: %w", err)
			}
		}
		return sel.Image, nil
	case images != nil:
		return images.Latest().Version, nil
	}
	return "", nil
}

func now() *metav1.Time { t := metav1.NewTime(time.Now().UTC().Truncate(time.Second)); return &t }

func (e *Engine) emit(ev Event) {
	ev.Time = time.Now().UTC()
	_ = e.Store.Audit(e.run.Name, ev)
	if e.Progress != nil {
		e.Progress(ev)
	}
}

// Drive runs a stored run until it completes, fails or is stopped, or,
// with Park, until it parks at a wait (a *ParkedError). It holds the
// run's lock throughout: a second driver is refused.
func (e *Engine) Drive(ctx context.Context, name string) (*v1alpha1.UpdateRun, error) {
	release, err := e.acquire(name)
	if err != nil {
		return nil, err
	}
	defer release()
	unlock, err := e.Store.Lock(name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if f, ok := e.Store.(store.Fence); ok {
		if lost := f.Lost(name); lost != nil {
			// Another driver may hold the run now: stop everything.
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
			go func() {
				select {
				case <-lost:
					cancel()
				case <-ctx.Done():
				}
			}()
		}
	}
	run, err := e.Store.Get(name)
	var corrupt *store.CorruptError
	recovered := errors.As(err, &corrupt) && corrupt.Recovered
	if err != nil && !recovered {
		return nil, err
	}
	if e.Poll == 0 {
		e.Poll = time.Second
	}
	e.begin(run)
	if recovered {
		// The status before the bad one is a write older: steps it shows
		// Running or NotStarted are redone, which idempotent steps allow.
		e.emit(Event{Type: "Recovered", Message: corrupt.Error()})
	}
	if run.Spec.State == v1alpha1.StateInitialize {
		return run, nil
	}
	if run.Status.Phase == v1alpha1.PhaseCompleted {
		return run, nil
	}
	if run.Spec.State == v1alpha1.StateCancel {
		// Asked while no driver held the run: it ends here, as it stands.
		if run.Status.Phase != v1alpha1.PhaseCancelled {
			if err := e.update(func(s *v1alpha1.UpdateRunStatus) { cancelStatus(s, "cancelled on request") }); err != nil {
				return e.run, err
			}
			e.emit(Event{Type: v1alpha1.PhaseCancelled, Message: "cancelled on request: nothing more will be done"})
		}
		return e.run, ErrCancelled
	}
	if run.Status.Phase == v1alpha1.PhaseCancelled {
		return run, fmt.Errorf("%w: run %s was cancelled and cannot be driven again", ErrCancelled, name)
	}
	if run.Spec.State == v1alpha1.StateStop && e.unparked {
		// Asked while the run was parked at a wait: it stops there.
		e.record(func(s *v1alpha1.UpdateRunStatus) { stopWaiting(s, "stopped on request while waiting") })
		e.emit(Event{Type: v1alpha1.PhaseStopped, Message: "stopped on request while waiting: " + e.command("resume %s", name) + " goes on"})
		return e.run, ErrStopped
	}
	if run.Spec.State == v1alpha1.StateRollback {
		// Asked before this driver started, or cut short mid-rollback.
		if err := e.rollbackAll(ctx, "rollback requested (upshift rollback "+name+")"); err != nil {
			return e.run, fmt.Errorf("%w: %w", ErrFailed, err)
		}
		return e.run, ErrRolledBack
	}
	watchCtx, cancelWatch := context.WithCancel(ctx)
	defer cancelWatch()
	// Work stops at once on a rollback request; the rollback itself runs
	// on the caller's context.
	workCtx, cancelWork := context.WithCancel(ctx)
	defer cancelWork()
	e.readRequests() // a skip asked while parked counts at once
	go e.watch(watchCtx, cancelWork)

	if !e.unparked {
		if err := e.update(func(s *v1alpha1.UpdateRunStatus) {
			resumeFailed(s)
			setRunPhase(s, v1alpha1.PhaseRunning, "")
			if s.Start == nil {
				s.Start = now()
			}
		}); err != nil {
			return nil, err
		}
		e.emit(Event{Type: "Started", Message: "driving run " + name})
	}
	for i := range run.Status.Stages {
		err := e.runStage(workCtx, i)
		if err == nil {
			continue
		}
		var parked *ParkedError
		if errors.As(err, &parked) {
			e.mu.Lock()
			said := e.run.Status.Phase == v1alpha1.PhaseWaiting && e.run.Status.Message == parked.Why
			e.mu.Unlock()
			if !said { // parked again for the same reason: nothing to write
				e.record(func(s *v1alpha1.UpdateRunStatus) { setRunPhase(s, v1alpha1.PhaseWaiting, parked.Why) })
			}
			return e.run, parked
		}
		if e.rollbackRequested() {
			if rbErr := e.rollbackAll(ctx, "rollback requested (upshift rollback "+name+")"); rbErr != nil {
				return e.run, fmt.Errorf("%w: %w", ErrFailed, rbErr)
			}
			return e.run, ErrRolledBack
		}
		var rolledBack *methods.RolledBackError
		if errors.As(err, &rolledBack) {
			e.record(func(s *v1alpha1.UpdateRunStatus) {
				setRunPhase(s, v1alpha1.PhaseRolledBack, err.Error())
				s.End = now()
			})
			e.emit(Event{Type: v1alpha1.PhaseRolledBack, Message: err.Error()})
			return e.run, fmt.Errorf("%w: %w", ErrRolledBack, err)
		}
		phase := v1alpha1.PhaseFailed
		if errors.Is(err, ErrStopped) || errors.Is(err, context.Canceled) || errors.Is(err, ErrStatusNotSaved) {
			// A status it cannot save stops the run, to be resumed once
			// the state folder is fixed: nothing failed on the clusters.
			phase = v1alpha1.PhaseStopped
		}
		e.record(func(s *v1alpha1.UpdateRunStatus) { setRunPhase(s, phase, err.Error()) })
		e.emit(Event{Type: phase, Message: err.Error()})
		if phase == v1alpha1.PhaseStopped && e.cancelRequested() {
			e.record(func(s *v1alpha1.UpdateRunStatus) { cancelStatus(s, "cancelled on request after the steps under way") })
			e.emit(Event{Type: v1alpha1.PhaseCancelled, Message: "cancelled on request: the steps under way finished, nothing more will be done"})
			return e.run, ErrCancelled
		}
		if phase == v1alpha1.PhaseStopped {
			return e.run, fmt.Errorf("%w: %w", ErrStopped, err)
		}
		return e.run, fmt.Errorf("%w: %w", ErrFailed, err)
	}
	if err := e.update(func(s *v1alpha1.UpdateRunStatus) {
		setRunPhase(s, v1alpha1.PhaseCompleted, "")
		s.End = now()
	}); err != nil {
		return e.run, fmt.Errorf("%w: %w", ErrFailed, err)
	}
	e.emit(Event{Type: "Completed", Message: "every stage completed"})
	return e.run, nil
}

// resumeFailed puts what failed back to work, for a resumed run.
func resumeFailed(s *v1alpha1.UpdateRunStatus) {
	for i := range s.Stages {
		st := &s.Stages[i]
		if st.Phase == v1alpha1.PhaseFailed || st.Phase == v1alpha1.PhaseStopped {
			st.Phase = v1alpha1.PhaseRunning
		}
		for j := range st.Clusters {
			c := &st.Clusters[j]
			if c.Phase == v1alpha1.PhaseFailed || c.Phase == v1alpha1.PhaseStopped || c.Phase == v1alpha1.PhaseRolledBack {
				c.Phase = v1alpha1.PhaseNotStarted
			}
			for k := range c.Steps {
				if c.Steps[k].Phase == v1alpha1.PhaseFailed {
					c.Steps[k].Phase = v1alpha1.PhaseNotStarted
				}
			}
		}
		for _, tasks := range [][]v1alpha1.TaskStatus{st.BeforeTasks, st.AfterTasks} {
			for k := range tasks {
				if tasks[k].Phase == v1alpha1.PhaseFailed {
					tasks[k].Phase = v1alpha1.PhaseNotStarted
				}
			}
		}
	}
}

// watch turns a stored Stop into the stop channel, and keeps the skip
// requests current.
func (e *Engine) watch(ctx context.Context, cancelWork context.CancelFunc) {
	for {
		e.readRequests(cancelWork)
		select {
		case <-ctx.Done():
			return
		case <-time.After(e.Poll):
		}
	}
}

// readRequests reads the run's requested state and skips once: a stop,
// a cancel or a rollback closes its channel (a rollback also cancels the
// work under way, through cancelWork).
func (e *Engine) readRequests(cancelWork ...context.CancelFunc) {
	read := func() (string, map[string]bool, error) {
		if r, ok := e.Store.(store.Requests); ok {
			return r.Requested(e.run.Name)
		}
		run, err := e.Store.Get(e.run.Name)
		if err != nil {
			return "", nil, err
		}
		skips, err := e.Store.Skips(e.run.Name)
		return run.Spec.State, skips, err
	}
	state, skips, err := read()
	if err != nil {
		return
	}
	switch state {
	case v1alpha1.StateStop:
		e.stopMu.Do(func() { close(e.stop) })
	case v1alpha1.StateCancel:
		e.cancelMu.Do(func() { close(e.cancel) })
		e.stopMu.Do(func() { close(e.stop) })
	case v1alpha1.StateRollback:
		e.rollbackMu.Do(func() { close(e.rollback) })
		e.stopMu.Do(func() { close(e.stop) })
		for _, cancel := range cancelWork {
			cancel()
		}
	}
	e.mu.Lock()
	e.skips = skips
	e.mu.Unlock()
}

func (e *Engine) rollbackRequested() bool {
	select {
	case <-e.rollback:
		return true
	default:
		return false
	}
}

func (e *Engine) cancelRequested() bool {
	select {
	case <-e.cancel:
		return true
	default:
		return false
	}
}

// cancelStatus ends a run for good: what was under way is Stopped (a
// driver that was killed left it so), and the run is Cancelled.
func cancelStatus(s *v1alpha1.UpdateRunStatus, why string) {
	halt := func(phase *string) {
		if *phase == v1alpha1.PhaseRunning || *phase == v1alpha1.PhaseWaiting {
			*phase = v1alpha1.PhaseStopped
		}
	}
	for i := range s.Stages {
		st := &s.Stages[i]
		halt(&st.Phase)
		for j := range st.Clusters {
			halt(&st.Clusters[j].Phase)
			for k := range st.Clusters[j].Steps {
				halt(&st.Clusters[j].Steps[k].Phase)
			}
		}
		for _, tasks := range [][]v1alpha1.TaskStatus{st.BeforeTasks, st.AfterTasks} {
			for k := range tasks {
				halt(&tasks[k].Phase)
			}
		}
	}
	setRunPhase(s, v1alpha1.PhaseCancelled, why)
	s.End = now()
}

func (e *Engine) stopped() bool {
	select {
	case <-e.stop:
		return true
	default:
		return false
	}
}

// stopAsked is stopped, or a stop the store holds that the watch has not
// brought yet (a stop that aborted a cloud operation, whose error comes
// back at once).
func (e *Engine) stopAsked() bool {
	if e.stopped() {
		return true
	}
	run, err := e.Store.Get(e.run.Name)
	return err == nil && run.Spec.State == v1alpha1.StateStop
}

func (e *Engine) skipped(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.skips == nil {
		if skips, err := e.Store.Skips(e.run.Name); err == nil {
			e.skips = skips
		}
	}
	return e.skips[key]
}

func (e *Engine) stage(i int) v1alpha1.StageStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	return *e.run.Status.Stages[i].DeepCopy()
}

func (e *Engine) stageSpec(i int) v1alpha1.StageSpec {
	return e.run.Status.Strategy.Stages[i]
}

func (e *Engine) runStage(ctx context.Context, i int) error {
	st := e.stage(i)
	if st.Phase == v1alpha1.PhaseCompleted || st.Phase == v1alpha1.PhaseSkipped {
		return nil
	}
	if e.skipped(store.StageKey(st.Name)) {
		e.record(func(s *v1alpha1.UpdateRunStatus) {
			s.Stages[i].Phase, s.Stages[i].End = v1alpha1.PhaseSkipped, now()
			for j := range s.Stages[i].Clusters {
				if s.Stages[i].Clusters[j].Phase != v1alpha1.PhaseCompleted {
					s.Stages[i].Clusters[j].Phase = v1alpha1.PhaseSkipped
				}
			}
		})
		e.emit(Event{Stage: st.Name, Type: "Skipped", Message: "stage skipped on request"})
		return nil
	}
	if e.stopped() {
		return ErrStopped
	}
	running := st.Phase == v1alpha1.PhaseRunning && st.Start != nil
	if !running {
		if err := e.update(func(s *v1alpha1.UpdateRunStatus) {
			s.Stages[i].Phase = v1alpha1.PhaseRunning
			if s.Stages[i].Start == nil {
				s.Stages[i].Start = now()
			}
		}); err != nil {
			return err
		}
	}
	if !running || !e.unparked {
		e.emit(Event{Stage: st.Name, Type: "Started", Message: fmt.Sprintf("stage %s: %d cluster(s)", st.Name, len(st.Clusters))})
	}
	spec := e.stageSpec(i)
	before := spec.BeforeStageTasks
	for j := range before {
		if err := e.saved(); err != nil {
			return err
		}
		if err := e.runTask(ctx, i, j, true, before[j]); err != nil {
			return e.failStage(i, err)
		}
	}
	if err := e.runClusters(ctx, i, spec); err != nil {
		return e.failStage(i, err)
	}
	after := plan.AfterTasks(spec)
	for j := range after {
		if err := e.saved(); err != nil {
			return err
		}
		if err := e.runTask(ctx, i, j, false, after[j]); err != nil {
			return e.failStage(i, err)
		}
	}
	msg := ""
	if n := failedClusters(e.stage(i)); n > 0 {
		msg = fmt.Sprintf("%d cluster(s) failed or were skipped unreachable, %s", n, held(e.limits(i, spec)))
	}
	e.record(func(s *v1alpha1.UpdateRunStatus) {
		s.Stages[i].Phase, s.Stages[i].End, s.Stages[i].Message = v1alpha1.PhaseCompleted, now(), msg
	})
	e.emit(Event{Stage: st.Name, Type: "Completed", Message: "stage " + st.Name + " completed"})
	return nil
}

func (e *Engine) failStage(i int, err error) error {
	var parked *ParkedError
	if errors.As(err, &parked) {
		return err // nothing failed: the stage waits
	}
	phase := v1alpha1.PhaseFailed
	if errors.Is(err, ErrStopped) || errors.Is(err, context.Canceled) {
		phase = v1alpha1.PhaseStopped
	}
	e.record(func(s *v1alpha1.UpdateRunStatus) { s.Stages[i].Phase, s.Stages[i].Message = phase, err.Error() })
	return fmt.Errorf("stage %s: %w", e.run.Status.Stages[i].Name, err)
}

// runTask runs a stage task: an approval, a timed wait or a gate.
func (e *Engine) runTask(ctx context.Context, stage, idx int, before bool, task v1alpha1.StageTask) error {
	get := func(s *v1alpha1.UpdateRunStatus) *v1alpha1.TaskStatus {
		if before {
			return &s.Stages[stage].BeforeTasks[idx]
		}
		return &s.Stages[stage].AfterTasks[idx]
	}
	var ts v1alpha1.TaskStatus
	e.mu.Lock()
	ts = *get(&e.run.Status)
	e.mu.Unlock()
	stageName := e.run.Status.Stages[stage].Name
	if ts.Phase == v1alpha1.PhaseCompleted || ts.Phase == v1alpha1.PhaseSkipped {
		return nil
	}
	key := store.StageTaskKey(stageName, ts.Name)
	if e.skipped(key) {
		e.record(func(s *v1alpha1.UpdateRunStatus) { t := get(s); t.Phase, t.End = v1alpha1.PhaseSkipped, now(); wake(s) })
		e.emit(Event{Stage: stageName, Step: ts.Name, Type: "Skipped", Message: ts.Type + " skipped on request"})
		return nil
	}
	// again: the wait was announced when this run parked at it.
	again := e.unparked && ts.Start != nil && (ts.Phase == v1alpha1.PhaseWaiting || ts.Phase == v1alpha1.PhaseRunning)
	// A soak counts from its start, also across a resume: say what is
	// left of it, until when, and how to end it now.
	skip := e.command("skip %s --stage %s --task %s", e.run.Name, stageName, ts.Name)
	soak := func(until time.Time) string {
		return fmt.Sprintf("soaking until %s (%s of %s left); %s ends it now", until.UTC().Format("15:04:05 UTC"), min(soakLeft(until), task.WaitTime.Duration), task.WaitTime.Duration, skip)
	}
	var since time.Time
	// The start is kept to the second, truncated: the task began within
	// the second after it. Counting from the end of that second, a soak
	// is never shorter than asked, and reads the same in every drive.
	if again {
		since = ts.Start.Time.Add(time.Second)
	} else {
		// The phase and what it waits for are written together, so that
		// no reader sees a running soak without its message.
		e.record(func(s *v1alpha1.UpdateRunStatus) {
			t := get(s)
			if t.Start == nil {
				t.Start = now()
			}
			since = t.Start.Time.Add(time.Second)
			t.Phase = v1alpha1.PhaseRunning
			switch task.Type {
			case v1alpha1.TaskApproval:
				t.Phase = v1alpha1.PhaseWaiting
				t.Message = "waiting for approval: " + e.command("approve %s --stage %s", e.run.Name, stageName)
			case v1alpha1.TaskTimedWait:
				t.Message = soak(since.Add(task.WaitTime.Duration))
			}
		})
	}
	var g v1alpha1.GateSpec
	switch task.Type {
	case v1alpha1.TaskApproval:
		g = v1alpha1.GateSpec{Name: ts.Name, Type: v1alpha1.GateApproval}
		approve := e.command("approve %s --stage %s", e.run.Name, stageName)
		waiting := fmt.Sprintf("waiting for approval of stage %s: %s", stageName, approve)
		if !again {
			e.emit(Event{Stage: stageName, Step: ts.Name, Type: "Waiting", Message: waiting, Command: approve})
			if r, ok := e.Store.(store.ApprovalRequester); ok {
				if err := r.RequestApproval(e.run.Name, store.StageKey(stageName), fmt.Sprintf("approve stage %s of run %s", stageName, e.run.Name)); err != nil {
					e.emit(Event{Stage: stageName, Step: ts.Name, Type: "Warning", Message: "could not ask for the approval: " + err.Error()})
				}
			}
		}
		if _, _, ok := e.approvals(store.StageKey(stageName))(key); e.Park > 0 && !ok {
			return &ParkedError{Why: waiting}
		}
	case v1alpha1.TaskTimedWait:
		g = v1alpha1.GateSpec{Name: ts.Name, Type: v1alpha1.GateTimedWait, Duration: task.WaitTime}
		until := since.Add(task.WaitTime.Duration)
		if !again {
			e.emit(Event{Stage: stageName, Step: ts.Name, Type: "Waiting", Message: soak(until), Command: skip})
		}
		if e.Park > 0 && time.Until(until) > e.Park {
			return &ParkedError{Until: until, Why: fmt.Sprintf("stage %s soaking until %s; %s ends it now", stageName, until.UTC().Format(time.RFC3339), skip)}
		}
		defer e.soakProgress(stageName, ts.Name, until)()
	default:
		g = *task.Gate
		if !again {
			e.emit(Event{Stage: stageName, Step: ts.Name, Type: "Started", Message: "gate " + g.Name})
		}
		// An Approval or TimedWait gate parks as the tasks above do.
		ctx = park.Allow(ctx, e.Park)
	}
	// Waits end early on stop or skip; they are safe to interrupt.
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for {
			select {
			case <-waitCtx.Done():
				return
			case <-e.stop:
				cancel()
				return
			case <-time.After(e.Poll):
				if e.skipped(key) {
					cancel()
					return
				}
			}
		}
	}()
	res, err := gates.Run(waitCtx, g, gates.Target{Since: since}, e.approvals(store.StageKey(stageName)), key)
	var parked *ParkedError
	if errors.As(err, &parked) {
		why := fmt.Sprintf("stage %s: %s", stageName, parked.Why)
		if g.Type == v1alpha1.GateApproval {
			why = fmt.Sprintf("stage %s waits for the approval of gate %s: %s", stageName, g.Name, e.command("approve %s --stage %s", e.run.Name, stageName))
		}
		if !again || ts.Message != why {
			e.record(func(s *v1alpha1.UpdateRunStatus) { t := get(s); t.Phase, t.Message = v1alpha1.PhaseWaiting, why })
			e.emit(Event{Stage: stageName, Step: ts.Name, Type: "Waiting", Message: why})
		}
		return &ParkedError{Until: parked.Until, Why: why}
	}
	if err != nil && waitCtx.Err() != nil && ctx.Err() == nil {
		if e.skipped(key) {
			e.record(func(s *v1alpha1.UpdateRunStatus) { t := get(s); t.Phase, t.End = v1alpha1.PhaseSkipped, now() })
			e.emit(Event{Stage: stageName, Step: ts.Name, Type: "Skipped", Message: ts.Type + " skipped on request"})
			return nil
		}
		e.record(func(s *v1alpha1.UpdateRunStatus) { t := get(s); t.Phase = v1alpha1.PhaseStopped })
		return ErrStopped
	}
	if err != nil {
		e.record(func(s *v1alpha1.UpdateRunStatus) {
			t := get(s)
			t.Phase, t.Message, t.End = v1alpha1.PhaseFailed, res.Message, now()
		})
		e.emit(Event{Stage: stageName, Step: ts.Name, Type: "Failed", Message: err.Error()})
		return err
	}
	e.record(func(s *v1alpha1.UpdateRunStatus) {
		t := get(s)
		t.Phase, t.Message, t.End = v1alpha1.PhaseCompleted, res.Message, now()
		wake(s)
		if res.ApprovedBy != "" {
			t.ApprovedBy = res.ApprovedBy
			at := metav1.NewTime(res.ApprovedAt)
			t.ApprovedAt = &at
		}
	})
	e.emit(Event{Stage: stageName, Step: ts.Name, Type: "Completed", Message: res.Message})
	return nil
}

// approvals answers whether an approval was recorded for the key asked
// for, or for any of also (a stage's approval approves all its approval
// tasks).
func (e *Engine) approvals(also ...string) gates.Approvals {
	return func(key string) (string, time.Time, bool) {
		all, err := e.Store.Approvals(e.run.Name)
		if err != nil {
			return "", time.Time{}, false
		}
		for _, k := range append([]string{key}, also...) {
			if a, ok := all[k]; ok {
				return a.By, a.Time, true
			}
		}
		return "", time.Time{}, false
	}
}

// runClusters upgrades the stage's clusters: groups in parallel, each
// group up to maxConcurrency clusters at once.
func (e *Engine) runClusters(ctx context.Context, stage int, spec v1alpha1.StageSpec) error {
	st := e.stage(stage)
	groups := map[string][]int{}
	var order []string
	for j, c := range st.Clusters {
		if _, ok := groups[c.Group]; !ok {
			order = append(order, c.Group)
		}
		groups[c.Group] = append(groups[c.Group], j)
	}
	maxConc := intstr.FromInt32(1)
	if spec.MaxConcurrency != nil {
		maxConc = *spec.MaxConcurrency
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []error
	// Each group starts its clusters in the plan's order, as many at once
	// as its concurrency allows; those a parked drive left under way go
	// first, to take back their places.
	for _, g := range order {
		idx := groups[g]
		slices.SortStableFunc(idx, func(a, b int) int {
			return cmp.Compare(underWay(st.Clusters[b]), underWay(st.Clusters[a]))
		})
		sl := newSlots(plan.Concurrency(maxConc, len(idx)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, j := range idx {
				if !sl.take() {
					return // every place is kept by a cluster parked in a step
				}
				// Once a failure limit is crossed, or the drive ends, no
				// cluster starts.
				if ctx.Err() != nil || crossedLimit(e.limits(stage, spec)) != nil {
					sl.done(false)
					return
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := e.runCluster(ctx, stage, j)
					sl.done(errors.As(err, new(parkedInStep)))
					if err != nil {
						mu.Lock()
						failures = append(failures, err)
						mu.Unlock()
					}
				}()
			}
		}()
	}
	wg.Wait()
	var stopped, failed []error
	var parked *ParkedError // the one that wakes first
	for _, err := range failures {
		var p *ParkedError
		switch {
		case errors.As(err, &p):
			if parked == nil || p.Until.Before(parked.Until) {
				parked = p
			}
		case errors.Is(err, ErrStopped) || errors.Is(err, context.Canceled):
			stopped = append(stopped, err)
		default:
			failed = append(failed, err)
		}
	}
	if len(stopped) > 0 && len(failed) == 0 {
		return ErrStopped
	}
	// A status that could not be saved, or a move rolled back, ends the
	// run whatever the limits: neither is a Failed cluster they count.
	for _, err := range failed {
		var rolledBack *methods.RolledBackError
		if errors.Is(err, ErrStatusNotSaved) || errors.As(err, &rolledBack) {
			return errors.Join(failed...)
		}
	}
	ls := e.limits(stage, spec)
	if l := crossedLimit(ls); l != nil {
		// Clusters skipped unreachable fail nothing themselves.
		return errors.Join(append([]error{errors.New(l.String())}, failed...)...)
	}
	if len(stopped) > 0 {
		return ErrStopped
	}
	if parked != nil {
		return parked // the others are done; the parked wait for their windows
	}
	if n := failedClusters(e.stage(stage)); n > 0 {
		e.emit(Event{Stage: st.Name, Type: "Held", Message: fmt.Sprintf("%d cluster(s) failed or were skipped unreachable, %s", n, held(ls))})
	}
	return nil
}

func failedClusters(st v1alpha1.StageStatus) int {
	n := 0
	for _, c := range st.Clusters {
		if failed(c) {
			n++
		}
	}
	return n
}

func (e *Engine) member(name string) (*Member, v1alpha1.Cluster, error) {
	i := slices.IndexFunc(e.Fleet, func(c v1alpha1.Cluster) bool { return c.Name == name })
	if i < 0 {
		return nil, v1alpha1.Cluster{}, fmt.Errorf("cluster %s left the fleet file after the run started: put it back, or skip it with `%s`", name, e.command("skip %s --cluster %s", e.run.Name, name))
	}
	m, err := e.Resolve(e.Fleet[i])
	return m, e.Fleet[i], err
}

// soakLeft is what is left of a soak ending at until, to the second.
func soakLeft(until time.Time) time.Duration {
	return max(0, time.Until(until)).Round(time.Second)
}

// soakProgress says every minute how much of a soak is left, so that a
// long soak is not one line and then silence; it returns its stop.
func (e *Engine) soakProgress(stage, task string, until time.Time) func() {
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Minute)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if left := soakLeft(until); left > 0 {
					e.emit(Event{Stage: stage, Step: task, Type: "Waiting", Message: fmt.Sprintf("soaking: %s left (until %s)", left, until.UTC().Format("15:04:05 UTC"))})
				}
			}
		}
	}()
	return func() { close(done) }
}
