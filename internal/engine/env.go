package engine

import (
	"cmp"
	"context"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
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
	msg, output, err := c.e.runGates(ctx, c.fc, m, list, nodeVersion, c.since, c.gateWaitSince)
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

// gateWaitSince is when the step's gate began to wait, kept in the step's
// status: recorded now the first time it is asked.
func (c *clusterEnv) gateWaitSince(gate string) time.Time {
	find := func(s *v1alpha1.UpdateRunStatus) (*v1alpha1.StepStatus, int) {
		cs := &s.Stages[c.stage].Clusters[c.idx]
		k := slices.IndexFunc(cs.Steps, func(st v1alpha1.StepStatus) bool { return st.Name == c.step })
		if k < 0 {
			return nil, -1
		}
		return &cs.Steps[k], slices.IndexFunc(cs.Steps[k].GateWaits, func(w v1alpha1.GateWait) bool { return w.Gate == gate })
	}
	c.e.mu.Lock()
	st, i := find(&c.e.run.Status)
	var since time.Time
	if st != nil && i >= 0 {
		since = st.GateWaits[i].Since.Time
	}
	c.e.mu.Unlock()
	if st == nil || i >= 0 {
		return cmp.Or(since, time.Now())
	}
	at := metav1.NewMicroTime(time.Now().UTC().Truncate(time.Microsecond))
	c.e.record(func(s *v1alpha1.UpdateRunStatus) {
		if st, i := find(s); st != nil && i < 0 {
			st.GateWaits = append(st.GateWaits, v1alpha1.GateWait{Gate: gate, Since: at})
		}
	})
	return at.Time
}
