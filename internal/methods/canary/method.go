package canary

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/gates/gatespec"
	"upshift.dev/upshift/internal/methods"
	"upshift.dev/upshift/internal/methods/bluegreen"
	"upshift.dev/upshift/internal/steps"
)

// StepTraffic is the kind of a canary's traffic steps; their Index says
// which of spec.canary.steps each is.
const StepTraffic = "T3-Canary"

// Method is the canary upgrade method.
type Method struct{}

var (
	_ methods.Method        = Method{}
	_ methods.RollingBack   = Method{}
	_ methods.ApprovalGater = Method{}
	_ steps.FleetValidator  = Method{}
)

// blueGreen does the phases the two methods share.
var blueGreen = bluegreen.Method{}

// Method names it in spec.method.
func (Method) Method() string { return v1alpha1.MethodCanary }

// Validate checks spec.blueGreen as blue-green does, and spec.canary: the
// traffic provider must split traffic, weights rise from 1 to 100, and
// Metrics gates need a provider that counts what each backend answers.
func (Method) Validate(run *v1alpha1.UpdateRun) field.ErrorList {
	errs := blueGreen.Validate(run)
	p := field.NewPath("spec", "canary")
	if bg := run.Spec.BlueGreen; bg != nil {
		switch prov := bg.Traffic.Provider; prov {
		case v1alpha1.TrafficDNS, v1alpha1.TrafficAzureDNS:
			errs = append(errs, field.Invalid(field.NewPath("spec", "blueGreen", "traffic", "provider"), prov, "a canary splits traffic by weight, which DNS cannot do: use gateway, haproxy or trafficmanager"))
		}
	}
	c := run.Spec.Canary
	if c == nil || len(c.Steps) == 0 {
		return append(errs, field.Required(p.Child("steps"), "method Canary needs its traffic steps, e.g. [{weight: 10, pause: 1m}, {weight: 50, pause: 2m}, {weight: 100}]"))
	}
	last := 0
	for i, s := range c.Steps {
		sp := p.Child("steps").Index(i)
		if s.Testers {
			switch {
			case i > 0:
				errs = append(errs, field.Invalid(sp.Child("testers"), true, "only the first step lets testers in before users"))
			case s.Weight != 0:
				errs = append(errs, field.Invalid(sp.Child("weight"), s.Weight, "a testers step keeps users on blue: weight 0"))
			}
			continue
		}
		switch {
		case s.Weight < 1 || s.Weight > 100:
			errs = append(errs, field.Invalid(sp.Child("weight"), s.Weight, "green's share in percent: use 1 to 100"))
		case s.Weight < last:
			errs = append(errs, field.Invalid(sp.Child("weight"), s.Weight, fmt.Sprintf("weights never go down: the step before sets %d", last)))
		}
		if s.Pause != nil && s.Pause.Duration < 0 {
			errs = append(errs, field.Invalid(sp.Child("pause"), s.Pause.Duration.String(), "must not be negative"))
		}
		last = s.Weight
	}
	for i, g := range c.Analysis {
		gp := p.Child("analysis").Index(i)
		errs = append(errs, gatespec.ValidateAnalysis(gp, &g)...)
		if g.Type == v1alpha1.GateMetrics && run.Spec.BlueGreen != nil && !slices.Contains(observers, run.Spec.BlueGreen.Traffic.Provider) {
			errs = append(errs, field.Invalid(gp.Child("type"), g.Type, "Metrics gates read the front door's own counters of each backend: use traffic provider gateway or haproxy, or a Prometheus gate"))
		}
		if g.Type == v1alpha1.GateMetrics && g.Metrics != nil && g.Metrics.MaxP95IncreasePercent != nil && run.Spec.BlueGreen != nil && run.Spec.BlueGreen.Traffic.Provider == v1alpha1.TrafficHAProxy {
			errs = append(errs, field.Invalid(gp.Child("metrics", "maxP95IncreasePercent"), *g.Metrics.MaxP95IncreasePercent, "HAProxy counts answers by class, not by time: its Metrics gates compare error ratios alone; compare latency with a Prometheus gate"))
		}
	}
	return errs
}

// observers are the traffic providers that count what each backend
// answers (traffic.Observer), which Metrics gates read.
var observers = []string{v1alpha1.TrafficGateway, v1alpha1.TrafficHAProxy}

// ValidateFleet refuses shared names when a run moves several clusters,
// as blue-green does.
func (Method) ValidateFleet(run *v1alpha1.UpdateRun, clusters int) field.ErrorList {
	return blueGreen.ValidateFleet(run, clusters)
}

// Steps are blue-green's, with its switch replaced by the traffic steps.
func (Method) Steps(run *v1alpha1.UpdateRun, ci steps.ClusterInfo) ([]steps.Step, error) {
	bg, err := blueGreen.Steps(run, ci)
	if err != nil {
		return nil, err
	}
	at := slices.IndexFunc(bg, func(s steps.Step) bool { return s.Kind == bluegreen.StepSwitch })
	var traffic []steps.Step
	for i := range Plan(run.Spec.Canary) {
		traffic = append(traffic, steps.Step{Kind: StepTraffic, Index: i + 1})
	}
	return slices.Concat(bg[:at], traffic, bg[at+1:]), nil
}

// Plan is the canary's steps as they run: the spec's, with a final step
// at 100% added when the last one stops short of it.
func Plan(c *v1alpha1.CanarySpec) []v1alpha1.CanaryStep {
	if c == nil {
		return nil
	}
	out := slices.Clone(c.Steps)
	if len(out) == 0 || out[len(out)-1].Weight != 100 {
		out = append(out, v1alpha1.CanaryStep{Weight: 100})
	}
	return out
}

// Execute runs one step: a traffic step here, the others as blue-green
// runs them.
func (Method) Execute(ctx context.Context, env methods.Env, step steps.Step) (methods.Result, error) {
	if step.Kind != StepTraffic {
		return blueGreen.Execute(ctx, env, step)
	}
	res, err := trafficStep(ctx, env, step.Index)
	if rb, ok := err.(*methods.RolledBackError); ok {
		bluegreen.MarkRolledBack(env, rb.Reason)
	}
	return res, err
}

// ApprovalGates are blue-green's, the analysis's, and the held steps'.
func (Method) ApprovalGates(run *v1alpha1.UpdateRun) []string {
	out := blueGreen.ApprovalGates(run)
	if c := run.Spec.Canary; c != nil {
		out = append(out, methods.ApprovalGates(c.Analysis)...)
		for i, s := range c.Steps {
			if s.Approval {
				out = append(out, ApprovalGate(i+1))
			}
		}
	}
	return out
}

// Rollbackable as blue-green: until blue is destroyed.
func (Method) Rollbackable(cs v1alpha1.StageClusterStatus) (bool, error) {
	return blueGreen.Rollbackable(cs)
}

// Rollback sends all traffic back to blue and lifts the freeze, as
// blue-green does; resume runs the sync and the traffic steps again.
func (Method) Rollback(ctx context.Context, env methods.Env, reason string) (string, error) {
	done, err := blueGreen.Rollback(ctx, env, reason)
	if err != nil {
		return "", err
	}
	markRolledBack(env)
	// Testers lose their way to green too (best effort: the weights are
	// back on blue, which is what matters).
	if bg := env.ClusterStatus().BlueGreen; bg != nil && Plan(env.Run().Spec.Canary)[0].Testers {
		if blue, err := env.Reach(bg.Blue); err == nil {
			if mv, err := bluegreen.NewMove(ctx, env, blue); err == nil {
				_, _ = mv.AllowPin(ctx, false)
			}
		}
	}
	return done, nil
}

// Moved as blue-green.
func (Method) Moved(cs v1alpha1.StageClusterStatus) (blue, green string) {
	return blueGreen.Moved(cs)
}

// Traffic as blue-green: spec.blueGreen.traffic.
func (Method) Traffic(spec *v1alpha1.UpdateRunSpec) (v1alpha1.TrafficSpec, error) {
	return blueGreen.Traffic(spec)
}

// CheckPromote says which clusters a promote of the run names: the one
// given, or every cluster of the run still in its canary; it fails when
// the run is no canary or nothing is left to promote.
func CheckPromote(run *v1alpha1.UpdateRun, clusterName string) ([]string, error) {
	if run.Spec.Method != v1alpha1.MethodCanary {
		return nil, fmt.Errorf("run %s is a %s run: only a canary has steps to promote", run.Name, methodName(run))
	}
	var names, open []string
	for _, st := range run.Status.Stages {
		for _, c := range st.Clusters {
			names = append(names, c.Name)
			if clusterName != "" && c.Name != clusterName {
				continue
			}
			switch {
			case c.Phase == v1alpha1.PhaseCompleted || c.Phase == v1alpha1.PhaseSkipped:
			case c.BlueGreen != nil && c.BlueGreen.Switched != nil:
			default:
				open = append(open, c.Name)
			}
		}
	}
	switch {
	case clusterName != "" && !slices.Contains(names, clusterName):
		return nil, fmt.Errorf("run %s has no cluster %q (its clusters: %s)", run.Name, clusterName, strings.Join(names, ", "))
	case len(open) == 0 && clusterName != "":
		return nil, fmt.Errorf("cluster %s of run %s has all its traffic on green, or is done: nothing to promote", clusterName, run.Name)
	case len(open) == 0:
		return nil, fmt.Errorf("every cluster of run %s has all its traffic on green, or is done: nothing to promote", run.Name)
	}
	return open, nil
}

// HeldForApproval names the approval gate of the step a cluster's canary
// is in, when that step waits for an approval: a promotion must give it
// too, or the step would go on holding.
func HeldForApproval(run *v1alpha1.UpdateRun, clusterName string) (gate string, index int, ok bool) {
	plan := Plan(run.Spec.Canary)
	for _, st := range run.Status.Stages {
		for _, c := range st.Clusters {
			if c.Name != clusterName || c.Canary == nil {
				continue
			}
			if i := c.Canary.Step; i >= 1 && i <= len(plan) && plan[i-1].Approval {
				return ApprovalGate(i), i, true
			}
		}
	}
	return "", 0, false
}

func methodName(run *v1alpha1.UpdateRun) string {
	if run.Spec.Method == "" {
		return v1alpha1.MethodInPlace
	}
	return run.Spec.Method
}
