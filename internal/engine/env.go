package engine

import (
	"context"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/gates"
	"upshift.dev/upshift/internal/methods"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/providers/traffic"
)

// clusterEnv is the methods.Env of one cluster of the run being driven.
type clusterEnv struct {
	e          *Engine
	stage, idx int
	fc         v1alpha1.Cluster
	member     *Member
	since      time.Time
	// step is the name of the step under way, for progress events.
	step string
}

var _ methods.Env = (*clusterEnv)(nil)

func (c *clusterEnv) Run() *v1alpha1.UpdateRun {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	// Every cluster's step asks: copying every other cluster's status
	// with it made a run over thousands of clusters quadratic.
	run := *c.e.run
	run.Status.Stages = nil
	return run.DeepCopy()
}

func (c *clusterEnv) Stage() string               { return c.e.run.Status.Stages[c.stage].Name }
func (c *clusterEnv) Cluster() v1alpha1.Cluster   { return c.fc }
func (c *clusterEnv) Member() *fleetmember.Member { return c.member }
func (c *clusterEnv) Since() time.Time            { return c.since }

func (c *clusterEnv) ClusterStatus() v1alpha1.StageClusterStatus {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	return *c.e.run.Status.Stages[c.stage].Clusters[c.idx].DeepCopy()
}

func (c *clusterEnv) Record(fn func(*v1alpha1.StageClusterStatus)) {
	c.e.record(func(s *v1alpha1.UpdateRunStatus) { fn(&s.Stages[c.stage].Clusters[c.idx]) })
}

func (c *clusterEnv) Progress(msg string) {
	c.e.emit(Event{Stage: c.Stage(), Cluster: c.fc.Name, Step: c.step, Type: "Progress", Message: msg})
}

// Escalated reports an undrainable escalation: audited and notified.
func (c *clusterEnv) Escalated(msg string) {
	c.e.emit(Event{Stage: c.Stage(), Cluster: c.fc.Name, Step: c.step, Type: v1alpha1.EventEscalated, Message: msg})
}

func (c *clusterEnv) Approval(key string) (string, time.Time, bool) { return c.e.approvals()(key) }

func (c *clusterEnv) Gates(ctx context.Context, list []v1alpha1.GateSpec, m *fleetmember.Member, nodeVersion string) (methods.Result, error) {
	msg, output, err := c.e.runGates(ctx, c, m, list, nodeVersion)
	return methods.Result{Message: msg, Output: output}, err
}

// Reach finds another cluster of the member's provider: the fleet entry
// pointed at it (the field its provider registered) and resolved.
func (c *clusterEnv) Reach(name string) (*fleetmember.Member, error) {
	other, err := fleetmember.Retarget(c.fc, name)
	if err != nil {
		return nil, err
	}
	return c.e.Resolve(other)
}

func (c *clusterEnv) Traffic() (traffic.Provider, error) { return c.e.trafficProvider() }

func (c *clusterEnv) Replaced(green string) error { return c.e.replaceMember(c.fc, green) }

// stepWaits keeps the waits of a cluster's step under way in its status
// (gates.Waits).
type stepWaits struct{ c *clusterEnv }

var _ gates.Waits = stepWaits{}

// step is the status of the step under way; nil when it is not found.
func (w stepWaits) step(s *v1alpha1.UpdateRunStatus) *v1alpha1.StepStatus {
	cs := &s.Stages[w.c.stage].Clusters[w.c.idx]
	if k := slices.IndexFunc(cs.Steps, func(st v1alpha1.StepStatus) bool { return st.Name == w.c.step }); k >= 0 {
		return &cs.Steps[k]
	}
	return nil
}

// find is the step's status and the index of gate's wait in it (-1:
// none); nil when the step is not found.
func (w stepWaits) find(s *v1alpha1.UpdateRunStatus, gate string) (*v1alpha1.StepStatus, int) {
	st := w.step(s)
	if st == nil {
		return nil, -1
	}
	return st, slices.IndexFunc(st.GateWaits, func(g v1alpha1.GateWait) bool { return g.Gate == gate })
}

// get reads gate's wait under the engine's lock.
func (w stepWaits) get(gate string) (v1alpha1.GateWait, bool) {
	w.c.e.mu.Lock()
	defer w.c.e.mu.Unlock()
	st, i := w.find(&w.c.e.run.Status, gate)
	if st == nil || i < 0 {
		return v1alpha1.GateWait{}, false
	}
	return st.GateWaits[i], true
}

// set records gate's wait (nil: drops it).
func (w stepWaits) set(gate string, wait *v1alpha1.GateWait) {
	w.c.e.record(func(s *v1alpha1.UpdateRunStatus) {
		st, i := w.find(s, gate)
		switch {
		case st == nil:
		case wait == nil && i >= 0:
			st.GateWaits = slices.Delete(st.GateWaits, i, i+1)
		case wait != nil && i >= 0:
			st.GateWaits[i] = *wait
		case wait != nil:
			st.GateWaits = append(st.GateWaits, *wait)
		}
	})
}

// micro is t as a status keeps it.
func micro(t time.Time) metav1.MicroTime {
	return metav1.NewMicroTime(t.UTC().Truncate(time.Microsecond))
}

func (w stepWaits) Began(gate string) time.Time {
	if g, ok := w.get(gate); ok {
		return g.Since.Time
	}
	at := micro(time.Now())
	w.set(gate, &v1alpha1.GateWait{Gate: gate, Since: at})
	return at.Time
}

func (w stepWaits) Checked(gate string) (time.Time, int, time.Time, bool) {
	g, ok := w.get(gate)
	var next time.Time
	if g.Next != nil {
		next = g.Next.Time
	}
	return g.Since.Time, g.Failures, next, ok && g.Failures > 0
}

func (w stepWaits) Hold(gate string, since time.Time, failures int, next time.Time) {
	at := micro(next)
	w.set(gate, &v1alpha1.GateWait{Gate: gate, Since: micro(since), Failures: failures, Next: &at})
}

// say sets the step's phase and message while a gate waits in it, and
// tells ev (unless it has no type); a step already so changes nothing.
func (w stepWaits) say(phase, msg string, ev Event) {
	c := w.c
	c.e.mu.Lock()
	st := w.step(&c.e.run.Status)
	same := st == nil || st.Phase == phase && st.Message == msg
	c.e.mu.Unlock()
	if same {
		return
	}
	c.e.record(func(s *v1alpha1.UpdateRunStatus) {
		if st := w.step(s); st != nil {
			st.Phase, st.Message = phase, msg
		}
	})
	if ev.Type != "" {
		ev.Stage, ev.Cluster, ev.Step = c.Stage(), c.fc.Name, c.step
		c.e.emit(ev)
	}
}

func (w stepWaits) Forget(gate string) {
	if _, ok := w.get(gate); ok {
		w.set(gate, nil)
	}
}
