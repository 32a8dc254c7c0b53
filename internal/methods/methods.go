package methods

import (
	"context"
	"fmt"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/providers/traffic"
	"upshift.dev/upshift/internal/registry"
	"upshift.dev/upshift/internal/steps"
)

// Method is an upgrade method: it plans a cluster's steps and does them.
// Execute must be idempotent: a step cut short is executed again on
// resume, and must then finish what was begun without doing it twice.
type Method interface {
	steps.Planner
	Execute(ctx context.Context, env Env, step steps.Step) (Result, error)
}

// Result is what a step records.
type Result struct {
	Message string
	// Output of commands the step ran (Command gates), kept short.
	Output string
	// NodePool is what a NodePool step measured.
	NodePool *v1alpha1.NodePoolRecord
}

// RollingBack is a method whose moves can be undone until a point of no
// return (blue-green, canary).
type RollingBack interface {
	// Rollbackable says whether a cluster's status holds a move that
	// began (false: nothing to undo), and an error when it can no longer
	// be undone.
	Rollbackable(cs v1alpha1.StageClusterStatus) (begun bool, err error)
	// Rollback undoes a cluster's move and marks the steps a resume must
	// do again; it says what it did.
	Rollback(ctx context.Context, env Env, reason string) (string, error)
}

// Moving is a method that moves a cluster's work to another cluster
// (blue-green, canary): it names the two, for the gates that compare
// them, and the traffic spec its moves switch.
type Moving interface {
	// Moved names a cluster's blue and green once its move named them.
	Moved(cs v1alpha1.StageClusterStatus) (blue, green string)
	// Traffic is the spec of the traffic the run's moves switch.
	Traffic(spec *v1alpha1.UpdateRunSpec) (v1alpha1.TrafficSpec, error)
}

// ApprovalGater is a method whose own settings hold Approval gates
// (blue-green's validation and post-switch gates, a canary's held steps):
// it names them, so `upshift approve` accepts them.
type ApprovalGater interface {
	ApprovalGates(run *v1alpha1.UpdateRun) []string
}

// ApprovalGates are the names of the Approval gates in list.
func ApprovalGates(list []v1alpha1.GateSpec) []string {
	var out []string
	for _, g := range list {
		if g.Type == v1alpha1.GateApproval {
			out = append(out, g.Name)
		}
	}
	return out
}

// RolledBackError ends a step whose move was undone (a failed post-switch
// window): the run is RolledBack, not Failed.
type RolledBackError struct{ Reason string }

func (e *RolledBackError) Error() string {
	return e.Reason + "; traffic is back on blue and the freeze is lifted; green is kept for inspection"
}

// Env is what the engine hands a method for one cluster of one run.
type Env interface {
	// Run is the run being driven (a copy): its spec and the run's own
	// status, without its stages (the cluster's own is ClusterStatus).
	Run() *v1alpha1.UpdateRun
	// Stage is the stage the cluster is upgraded in.
	Stage() string
	// Cluster is the fleet's entry; Member how to act on it.
	Cluster() v1alpha1.Cluster
	Member() *fleetmember.Member
	// Since is when the step first started (kept across resumes).
	Since() time.Time
	// ClusterStatus is a copy of the cluster's status; Record changes it
	// and saves it (a failed save stops the run at the next step).
	ClusterStatus() v1alpha1.StageClusterStatus
	Record(fn func(*v1alpha1.StageClusterStatus))
	// Progress reports what a long step is doing.
	Progress(msg string)
	// Approval says whether the run holds an approval of key
	// (store.ClusterGateKey: a gate, or a canary's "promote"), by whom
	// and when.
	Approval(key string) (by string, at time.Time, ok bool)
	// Gates runs gates against a member, with the run's approvals.
	Gates(ctx context.Context, list []v1alpha1.GateSpec, m *fleetmember.Member, nodeVersion string) (Result, error)
	// Reach finds another cluster of the member's provider by its
	// provider name (a blue-green move's green).
	Reach(name string) (*fleetmember.Member, error)
	// Traffic is the run's traffic provider.
	Traffic() (traffic.Provider, error)
	// Replaced records that the provider's cluster green now serves as
	// this fleet cluster (the run's frozen fleet, the user's fleet file).
	Replaced(green string) error
}

var methods = registry.New[Method]("method")

// Register makes a method available to plans and to the engine.
func Register(m Method) {
	steps.Register(m)
	methods.Register(m.Method(), m)
}

// Lookup finds a run's method ("" is InPlace).
func Lookup(name string) (Method, error) {
	if name == "" {
		name = v1alpha1.MethodInPlace
	}
	if m, ok := methods.Get(name); ok {
		return m, nil
	}
	return nil, fmt.Errorf("method %q is not available", name)
}

// TargetVersion resolves a run's target among the versions the member's
// provider offers (a minor picks its newest patch).
func TargetVersion(ctx context.Context, m *fleetmember.Member, want string) (kubeversion.Version, error) {
	v, err := kubeversion.Parse(want)
	if err != nil {
		return kubeversion.Version{}, err
	}
	available, err := m.Provider.Versions(ctx)
	if err != nil {
		return kubeversion.Version{}, fmt.Errorf("reading the versions the provider offers: %w", err)
	}
	return kubeversion.Resolve(v, available)
}
