package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/gates"
	"upshift.dev/upshift/internal/methods"
	"upshift.dev/upshift/internal/park"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/steps"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/transient"
)

// runCluster walks one cluster through its steps. Completed steps are not
// done again; a step found Running was cut short and is redone, which its
// idempotent action makes safe.
func (e *Engine) runCluster(ctx context.Context, stage, idx int) error {
	e.mu.Lock()
	cs := *e.run.Status.Stages[stage].Clusters[idx].DeepCopy()
	t := clusterTurn{e: e, stage: stage, idx: idx, stageName: e.run.Status.Stages[stage].Name, name: cs.Name}
	e.mu.Unlock()
	if cs.Phase == v1alpha1.PhaseCompleted || cs.Phase == v1alpha1.PhaseSkipped {
		return nil
	}
	if e.skipped(store.ClusterKey(cs.Name)) {
		t.set(ended(v1alpha1.PhaseSkipped), Event{Type: "Skipped", Message: "cluster skipped on request"})
		return nil
	}
	if e.stopped() {
		t.set(phase(v1alpha1.PhaseStopped), Event{})
		return ErrStopped
	}
	fail := func(err error) error {
		t.set(func(c *v1alpha1.StageClusterStatus) {
			c.Phase, c.Message, c.End = v1alpha1.PhaseFailed, err.Error(), now()
		}, Event{Type: "Failed", Message: err.Error()})
		return fmt.Errorf("cluster %s: %w", cs.Name, err)
	}
	m, fc, err := e.member(cs.Name)
	if err != nil {
		return fail(err)
	}
	// A cluster none of whose steps began may be skipped when it does
	// not answer; one under way is carried on.
	if e.run.Spec.FailurePolicy.SkipUnreachable && cs.Start == nil {
		if err := reachable(ctx, m); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			msg := "skipped: unreachable at its turn: " + err.Error()
			t.set(func(c *v1alpha1.StageClusterStatus) {
				c.Phase, c.Message, c.Unreachable, c.End = v1alpha1.PhaseSkipped, msg, true, now()
			}, Event{Type: "Skipped", Message: msg + " (" + e.command("retry %s --skipped", e.run.Name) + " upgrades it later)"})
			return nil
		}
	}
	method, err := methods.Lookup(e.run.Spec.Method)
	if err != nil {
		return fail(err)
	}
	started := Event{Type: "Started", Message: "upgrading " + cs.Name}
	if e.unparked && cs.Phase == v1alpha1.PhaseRunning {
		started = Event{} // said before the run parked
	}
	t.set(func(c *v1alpha1.StageClusterStatus) {
		c.Phase, c.Message = v1alpha1.PhaseRunning, ""
		if c.Start == nil {
			c.Start = now()
		}
	}, started)
	for k := range cs.Steps {
		step := cs.Steps[k]
		if step.Phase == v1alpha1.PhaseCompleted || step.Phase == v1alpha1.PhaseSkipped {
			continue
		}
		if e.stopped() {
			t.set(phase(v1alpha1.PhaseStopped), Event{Type: "Stopped", Message: "stopped before " + step.Name})
			return ErrStopped
		}
		if err := e.saved(); err != nil {
			return err
		}
		// inStep: the run parked inside this step, which goes on from
		// there (once in a window, as any step).
		inStep := e.unparked && step.Phase == v1alpha1.PhaseWaiting && step.Start != nil
		err := e.waitWindow(ctx, fc, func(msg string) {
			waiting := Event{Type: "Waiting", Message: msg}
			if e.unparked && step.Phase == v1alpha1.PhaseWaiting {
				waiting = Event{} // said before the run parked
			}
			t.setStep(k, func(st *v1alpha1.StepStatus) { st.Phase, st.Message = v1alpha1.PhaseWaiting, msg }, waiting)
		})
		var parked *ParkedError
		switch {
		case errors.As(err, &parked) && inStep:
			return parkedInStep{parked} // half-way: it keeps its place
		case errors.As(err, &parked):
			return err
		case errors.Is(err, ErrStopped):
			t.set(phase(v1alpha1.PhaseStopped), Event{Type: "Stopped", Message: "stopped while " + step.Name + " waited for the maintenance window"})
			return ErrStopped
		case errors.Is(err, errSkippedWhileWaiting):
			t.set(ended(v1alpha1.PhaseSkipped), Event{Type: "Skipped", Message: "cluster skipped on request while it waited for its maintenance window"})
			return nil
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			return fail(err)
		}
		e.wakeIfParked()
		var since time.Time
		if inStep {
			since = step.Start.Time // still Waiting until it moves on
		} else {
			t.setStep(k, func(st *v1alpha1.StepStatus) {
				if st.Phase == v1alpha1.PhaseNotStarted || st.Phase == v1alpha1.PhaseRolledBack {
					st.GateWaits = nil // done anew (it failed, or was undone): so are its waits
				}
				st.Phase, st.Message = v1alpha1.PhaseRunning, ""
				st.Attempts++
				if st.Start == nil {
					st.Start = now()
				}
				since = st.Start.Time
			}, Event{Type: "Started", Message: step.Name})
		}
		env := &clusterEnv{e: e, stage: stage, idx: idx, fc: fc, member: m, since: since, step: step.Name}
		// A wait inside the step parks where the engine may (a hub).
		res, err := e.execute(park.Allow(ctx, e.Park), method, env, steps.Of(step), Event{Stage: t.stageName, Cluster: cs.Name, Step: step.Name})
		msg, output := res.Message, res.Output
		if errors.As(err, &parked) {
			waiting := Event{Type: "Waiting", Message: parked.Why}
			if inStep && step.Message == parked.Why {
				waiting = Event{} // parked again for the same reason
			}
			t.setStep(k, func(st *v1alpha1.StepStatus) { st.Phase, st.Message = v1alpha1.PhaseWaiting, parked.Why }, waiting)
			return parkedInStep{parked}
		}
		var rolledBack *methods.RolledBackError
		if errors.As(err, &rolledBack) {
			// The method undid its move and marked what to redo; the
			// cluster is RolledBack, not Failed.
			t.setStep(k, func(st *v1alpha1.StepStatus) {
				st.Phase, st.Message, st.End = v1alpha1.PhaseFailed, err.Error(), now()
			}, Event{Type: v1alpha1.PhaseRolledBack, Message: err.Error()})
			return fmt.Errorf("cluster %s: %w", cs.Name, err)
		}
		if errors.Is(err, cluster.ErrAborted) && e.stopAsked() {
			// upshift stop --abort-cloud-operation: the step did not fail,
			// it was stopped part-way in the cloud.
			t.setStep(k, func(st *v1alpha1.StepStatus) {
				st.Phase, st.Message, st.Output = v1alpha1.PhaseStopped, err.Error(), output
			}, Event{})
			t.set(phase(v1alpha1.PhaseStopped), Event{Type: "Stopped", Message: "stopped during " + step.Name + ": " + err.Error()})
			return ErrStopped
		}
		if err != nil {
			t.setStep(k, func(st *v1alpha1.StepStatus) {
				st.Phase, st.Message, st.Output, st.End = v1alpha1.PhaseFailed, err.Error(), output, now()
			}, Event{})
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fail(fmt.Errorf("step %s: %w", step.Name, err))
		}
		t.setStep(k, func(st *v1alpha1.StepStatus) {
			st.Phase, st.Message, st.Output, st.End = v1alpha1.PhaseCompleted, msg, output, now()
			st.NodePool = res.NodePool
		}, Event{Type: "Completed", Message: msg})
	}
	if err := e.update(func(s *v1alpha1.UpdateRunStatus) { ended(v1alpha1.PhaseCompleted)(t.status(s)) }); err != nil {
		return err
	}
	e.emit(Event{Stage: t.stageName, Cluster: cs.Name, Type: "Completed", Message: cs.Name + " upgraded"})
	return nil
}

// parkedInStep is a cluster parked inside a step under way: unlike one
// parked at a maintenance window before its step, it keeps its place in
// its group's concurrency.
type parkedInStep struct{ *ParkedError }

func (p parkedInStep) Unwrap() error { return p.ParkedError }

// clusterTurn is one cluster's turn in a drive: each of its transitions,
// and each of its steps', is recorded and told as one (set, setStep).
type clusterTurn struct {
	e               *Engine
	stage, idx      int
	stageName, name string
}

func (t clusterTurn) status(s *v1alpha1.UpdateRunStatus) *v1alpha1.StageClusterStatus {
	return &s.Stages[t.stage].Clusters[t.idx]
}

// set records fn on the cluster's status, then tells ev (its stage and
// cluster filled in) unless it has no type.
func (t clusterTurn) set(fn func(*v1alpha1.StageClusterStatus), ev Event) {
	t.e.record(func(s *v1alpha1.UpdateRunStatus) { fn(t.status(s)) })
	t.tell(ev)
}

// setStep is set for the cluster's step k. A step's completion is told
// with the run's progress, this step counted.
func (t clusterTurn) setStep(k int, fn func(*v1alpha1.StepStatus), ev Event) {
	t.e.record(func(s *v1alpha1.UpdateRunStatus) { fn(&t.status(s).Steps[k]) })
	if ev.Type != "" {
		ev.Step = t.e.stepName(t.stage, t.idx, k)
	}
	if ev.Type == "Completed" {
		ev.Message += " " + t.e.progressBar()
	}
	t.tell(ev)
}

func (t clusterTurn) tell(ev Event) {
	if ev.Type == "" {
		return
	}
	ev.Stage, ev.Cluster = t.stageName, t.name
	t.e.emit(ev)
}

// phase sets a cluster's phase; ended also ends its turn.
func phase(p string) func(*v1alpha1.StageClusterStatus) {
	return func(c *v1alpha1.StageClusterStatus) { c.Phase = p }
}

func ended(p string) func(*v1alpha1.StageClusterStatus) {
	return func(c *v1alpha1.StageClusterStatus) { c.Phase, c.End = p, now() }
}

// stepName is the name of a cluster's step k.
func (e *Engine) stepName(stage, idx, k int) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.run.Status.Stages[stage].Clusters[idx].Steps[k].Name
}

// progressBar renders the run's steps done, e.g. "[#####.....] 5/10 steps".
func (e *Engine) progressBar() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	done, total := 0, 0
	for _, st := range e.run.Status.Stages {
		for _, c := range st.Clusters {
			for _, step := range c.Steps {
				total++
				if step.Phase == v1alpha1.PhaseCompleted || step.Phase == v1alpha1.PhaseSkipped || c.Phase == v1alpha1.PhaseSkipped {
					done++
				}
			}
		}
	}
	if total == 0 {
		return ""
	}
	const width = 20
	filled := done * width / total
	return fmt.Sprintf("[%s%s] %d/%d steps", strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, total)
}

// runGates evaluates the gates of a cluster's step in order, against m.
func (e *Engine) runGates(ctx context.Context, c *clusterEnv, m *Member, list []v1alpha1.GateSpec, nodeVersion string) (string, string, error) {
	fc, w := c.fc, stepWaits{c}
	t := gates.Target{Cluster: fc.Name, Run: e.run.Name, Dir: e.run.Annotations[v1alpha1.AnnotationWorkDir],
		Kubeconfig: m.Kubeconfig, Context: m.Context, RESTConfig: m.RESTConfig, NodeVersion: nodeVersion, Since: c.since, Waits: w}
	if v := e.run.Spec.Upgrade.KubernetesVersion; v != "" {
		t.TargetVersion = v
	} else if cv := e.clusterVersion(fc.Name); cv != "" {
		t.TargetVersion = cv // NodeImageOnly keeps the version
	}
	t.Blue, t.Green = e.moveNames(fc.Name)
	t.Simulate = e.gateSimulation(fc.Name)
	var msgs []string
	var output string
	for _, g := range list {
		key := store.ClusterGateKey(fc.Name, g.Name)
		approve := e.command("approve %s --cluster %s --gate %s", e.run.Name, fc.Name, g.Name)
		waiting := fmt.Sprintf("cluster %s waits for the approval of gate %s: %s", fc.Name, g.Name, approve)
		if _, _, given := e.approvals()(key); g.Type == v1alpha1.GateApproval && !given {
			e.requestApproval(key, fmt.Sprintf("approve gate %s of cluster %s in run %s", g.Name, fc.Name, e.run.Name))
			if park.Longer(ctx) == 0 {
				// Waited in place (the CLI): say for what, and how to end it.
				w.say(v1alpha1.PhaseWaiting, waiting, Event{Type: "Waiting", Message: waiting, Command: approve})
			}
		}
		res, err := gates.Run(ctx, g, t, e.approvals(), key)
		output += res.Output
		if g.Type == v1alpha1.GateApproval && err == nil {
			w.say(v1alpha1.PhaseRunning, "", Event{}) // the step goes on
		}
		if err != nil {
			var parked *ParkedError
			if errors.As(err, &parked) {
				// The gates before it are run again when the step is:
				// each is a check, or a wait kept in the step's gateWaits.
				why := fmt.Sprintf("cluster %s: %s", fc.Name, parked.Why)
				if g.Type == v1alpha1.GateApproval {
					why = waiting
				}
				return "", output, &ParkedError{Until: parked.Until, Why: why}
			}
			var failed *gates.Failed
			if errors.As(err, &failed) {
				failed.Gate, failed.Type = g.Name, g.Type // an approval's reads as its gate
				return "", output, transient.MarkPermanent(failed)
			}
			return "", output, err
		}
		msgs = append(msgs, g.Name+": "+res.Message)
	}
	return strings.Join(msgs, "; "), output, nil
}

// moveNames are the blue and green of a cluster's blue-green or canary
// move, once T0 named them.
func (e *Engine) moveNames(name string) (blue, green string) {
	method, err := methods.Lookup(e.run.Spec.Method)
	if err != nil {
		return "", ""
	}
	mv, ok := method.(methods.Moving)
	if !ok {
		return "", ""
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, st := range e.run.Status.Stages {
		for _, c := range st.Clusters {
			if c.Name == name {
				return mv.Moved(c)
			}
		}
	}
	return "", ""
}

// clusterVersion is the version a cluster started the run at.
func (e *Engine) clusterVersion(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, st := range e.run.Status.Stages {
		for _, c := range st.Clusters {
			if c.Name == name {
				return c.FromVersion
			}
		}
	}
	return ""
}

// requestApproval makes the request of an approval not given yet where
// the store keeps requests (a hub's ApprovalRequests: `kubectl get
// approvalrequests` lists what waits, and an approver approves it there).
func (e *Engine) requestApproval(key, message string) {
	r, ok := e.Store.(store.ApprovalRequester)
	if !ok {
		return
	}
	if err := r.RequestApproval(e.run.Name, key, message); err != nil {
		e.emit(Event{Type: "Warning", Message: "could not ask for the approval of " + key + ": " + err.Error()})
	}
}
