package canary

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/analysis"
	"upshift.dev/upshift/internal/gates"
	"upshift.dev/upshift/internal/methods"
	"upshift.dev/upshift/internal/methods/bluegreen"
	"upshift.dev/upshift/internal/park"
	"upshift.dev/upshift/internal/providers/traffic"
	"upshift.dev/upshift/internal/store"
)

// ApprovalGate names the approval a step with approval: true waits for.
func ApprovalGate(index int) string { return fmt.Sprintf("canary-step-%d", index) }

// PromoteKey is the approval `upshift promote` records for a cluster:
// its canary skips the steps left and puts all traffic on green.
func PromoteKey(cluster string) string { return store.ClusterGateKey(cluster, "promote") }

// errPromoted ends a step's analysis when the canary is promoted.
var errPromoted = errors.New("promoted")

// promote puts all traffic on green for a promoted canary: the step under
// way and every step left do only that.
func promote(ctx context.Context, env methods.Env, mv *bluegreen.Move, index int, by string) (methods.Result, error) {
	if err := mv.Shift(ctx, 100); err != nil {
		return methods.Result{}, err
	}
	if Plan(env.Run().Spec.Canary)[0].Testers {
		if _, err := mv.AllowPin(ctx, false); err != nil {
			return methods.Result{}, err
		}
	}
	env.Record(func(c *v1alpha1.StageClusterStatus) {
		if c.Canary == nil {
			c.Canary = &v1alpha1.CanaryStatus{}
		}
		c.Canary.Step, c.Canary.Weight = index, 100
		if c.Canary.Promoted == nil {
			t := metav1.Now()
			c.Canary.Promoted = &t
		}
	})
	env.Progress(fmt.Sprintf("promoted by %s: 100%% of %s on green, the steps left skipped", by, mv.ClusterName()))
	return methods.Result{Message: "promoted by " + by + ": 100% on green"}, nil
}

// markRolledBack records that the canary's traffic is all on blue again:
// a resume starts its steps over, and earlier promotions no longer count.
func markRolledBack(env methods.Env) {
	env.Record(func(c *v1alpha1.StageClusterStatus) {
		if c.Canary == nil {
			c.Canary = &v1alpha1.CanaryStatus{}
		}
		t := metav1.Now()
		c.Canary.Step, c.Canary.Weight, c.Canary.StepStarted, c.Canary.Promoted, c.Canary.RolledBack = 0, 0, nil, nil, &t
	})
}

// analysisFailed is a verdict of the analysis: green is worse than
// allowed, or could not be judged.
type analysisFailed struct{ reason string }

func (e *analysisFailed) Error() string { return e.reason }

// trafficStep sets step index's weight and holds it for the step's pause
// while the analysis runs. It is safe to run again: a resumed step sets
// the same weight (never a later step's) and holds what is left of its
// pause, counted from when it first set its weight (status.canary).
func trafficStep(ctx context.Context, env methods.Env, index int) (methods.Result, error) {
	run := env.Run()
	plan := Plan(run.Spec.Canary)
	if index < 1 || index > len(plan) {
		return methods.Result{}, fmt.Errorf("the run's canary has %d step(s), not a step %d", len(plan), index)
	}
	s := plan[index-1]
	mv, err := bluegreen.NewMove(ctx, env, env.Member())
	if err != nil {
		return methods.Result{}, err
	}
	if st := mv.Status(); st.RolledBack != nil {
		if index > 1 {
			return methods.Result{}, fmt.Errorf("the canary was rolled back at %s: resume runs T2 and the traffic steps again from the first", st.RolledBack.Format(time.RFC3339))
		}
		mv.Record(func(b *v1alpha1.BlueGreenStatus) { b.RolledBack, b.RollbackReason = nil, "" })
	}
	promoted := func() (string, bool) {
		by, at, ok := env.Approval(PromoteKey(env.Cluster().Name))
		if c := env.ClusterStatus().Canary; ok && c != nil && c.RolledBack != nil && !at.After(c.RolledBack.Time) {
			return "", false // given before the last rollback
		}
		return by, ok
	}
	if by, ok := promoted(); ok {
		return promote(ctx, env, mv, index, by)
	}
	if err := mv.Shift(ctx, s.Weight); err != nil {
		return methods.Result{}, err
	}
	var testers string
	if s.Testers && !mv.Pins() {
		// The green name's route, added with green, reaches green alone.
		testers = fmt.Sprintf("testers reach green %s by its own name %s through the front door; users stay on blue", mv.Status().Green, mv.GreenName())
		env.Progress(testers)
	} else if s.Testers || s.Weight == 100 && plan[0].Testers { // a route's own allowPin is the user's
		header, err := mv.AllowPin(ctx, s.Testers)
		if err != nil && s.Testers {
			return methods.Result{}, err
		}
		if s.Testers {
			how := "with the gateway's pin secret in X-Upshift-Pin-Secret (or from loopback on a route with pinFromLoopback)"
			if mv.Spec.Traffic.Provider != v1alpha1.TrafficGateway {
				how = "(a header match on the route: anyone sending it reaches green)"
			}
			testers = fmt.Sprintf("testers reach green with the header %s: %s %s; users stay on blue", header, mv.Status().Green, how)
			env.Progress(testers)
		}
	}
	var started time.Time
	env.Record(func(c *v1alpha1.StageClusterStatus) {
		if c.Canary == nil {
			c.Canary = &v1alpha1.CanaryStatus{}
		}
		if c.Canary.Step != index || c.Canary.StepStarted == nil {
			// As the status keeps it (to the second): a pause counts the
			// same from the first drive and from one that reads it back.
			t := metav1.NewTime(time.Now().UTC().Truncate(time.Second))
			c.Canary.StepStarted = &t
		}
		c.Canary.Step, c.Canary.Weight = index, s.Weight
		started = c.Canary.StepStarted.Time
	})
	var pause time.Duration
	if s.Pause != nil {
		pause = s.Pause.Duration
	}
	doing := "analysing"
	if len(env.Run().Spec.Canary.Analysis) == 0 {
		doing = "holding" // no analysis: the pause is all the step does
	}
	env.Progress(fmt.Sprintf("step %d of %d: %d%% of %s on green; %s for %s", index, len(plan), s.Weight, mv.ClusterName(), doing, pause))
	verdict, err := analyse(ctx, env, mv, index, started.Add(pause), s.Testers, promoted)
	if errors.Is(err, errPromoted) {
		by, _ := promoted()
		return promote(ctx, env, mv, index, by)
	}
	if err != nil {
		var failed *analysisFailed
		if !errors.As(err, &failed) || ctx.Err() != nil {
			return methods.Result{}, err // stopped or killed: a resume holds the step again
		}
		reason := fmt.Sprintf("canary step %d (%d%% on green) failed its analysis: %s", index, s.Weight, failed.reason)
		if rbErr := mv.Rollback(context.WithoutCancel(ctx), reason); rbErr != nil {
			return methods.Result{}, fmt.Errorf("%s; rollback failed: %w", reason, rbErr)
		}
		if plan[0].Testers {
			_, _ = mv.AllowPin(context.WithoutCancel(ctx), false) // best effort: the weights are back, which is what matters
		}
		markRolledBack(env)
		return methods.Result{}, &methods.RolledBackError{Reason: reason}
	}
	msg := fmt.Sprintf("%d%% on green for %s", s.Weight, pause)
	if testers != "" {
		msg = fmt.Sprintf("0%% on green for %s; %s", pause, testers)
	}
	if verdict != "" {
		msg += "; " + verdict
	}
	if s.Approval {
		// The engine says what the gate waits for, and how to approve it.
		res, err := env.Gates(ctx, []v1alpha1.GateSpec{{Name: ApprovalGate(index), Type: v1alpha1.GateApproval}}, env.Member(), "")
		if err != nil {
			return methods.Result{}, err
		}
		msg += "; " + res.Message
	}
	return methods.Result{Message: msg}, nil
}

// analyse runs the analysis until the deadline: each Metrics gate
// measures green against blue at its interval, over the traffic since the
// step (re)started, and fails the step after its failure threshold; the
// other gates run once, beside it, and must pass. A Metrics gate that
// never had enough traffic to judge fails the step at the deadline. A
// testers step runs the other gates only.
func analyse(ctx context.Context, env methods.Env, mv *bluegreen.Move, index int, deadline time.Time, testers bool, promoted func() (string, bool)) (string, error) {
	var metrics, others []v1alpha1.GateSpec
	for _, g := range env.Run().Spec.Canary.Analysis {
		switch {
		case g.Type != v1alpha1.GateMetrics:
			others = append(others, g)
		case !testers: // with testers alone on green there is nothing to compare
			metrics = append(metrics, g)
		}
	}
	if len(metrics) == 0 && len(others) == 0 {
		// Nothing to measure: the step holds, which a hub parks.
		c := env.Cluster().Name
		why := fmt.Sprintf("canary step %d of %s holds until %s; `upshift promote %s --cluster %s` ends it now", index, c, deadline.UTC().Format(time.RFC3339), env.Run().Name, c)
		if err := park.Until(ctx, deadline, why); err != nil {
			return "", err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	othersDone := make(chan error, 1)
	var othersMsg string
	if len(others) > 0 {
		go func() {
			// Run beside the pause's measurements: they cannot park.
			msg, err := mv.CheckGreen(park.Forbid(ctx), others)
			othersMsg = msg
			othersDone <- err
		}()
	} else {
		othersDone <- nil
	}
	var m *meter // nil without Metrics gates, or without a pause
	if len(metrics) > 0 && time.Now().Before(deadline) {
		var err error
		if m, err = newMeter(ctx, env, mv, index, metrics); err != nil {
			return "", err
		}
	}
	var next time.Time
	if m != nil {
		next = time.Now().Add(m.interval)
	}
	for time.Now().Before(deadline) {
		wait := min(time.Until(deadline), promoteCheck)
		if m != nil {
			wait = min(wait, time.Until(next))
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case err := <-othersDone:
			if err != nil {
				return "", analysisError(err)
			}
			othersDone = nil // passed; the pause goes on
		case <-time.After(wait):
		}
		if _, ok := promoted(); ok {
			return "", errPromoted
		}
		if m == nil || time.Now().Before(next) && time.Now().Before(deadline) {
			continue
		}
		next = time.Now().Add(m.interval)
		if err := m.measure(ctx); err != nil {
			return "", err
		}
	}
	var verdicts []string
	if m != nil {
		verdicts = m.verdicts()
		if err := m.conclusive(); err != nil {
			return "", err
		}
	}
	if othersDone != nil {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case err := <-othersDone:
			if err != nil {
				return "", analysisError(err)
			}
		}
	}
	if othersMsg != "" {
		verdicts = append(verdicts, othersMsg)
	}
	return strings.Join(verdicts, "; "), nil
}

// promoteCheck is how often a step's pause looks for a promotion.
const promoteCheck = 500 * time.Millisecond

// analysisError makes a failed gate a verdict; anything else (a stop)
// stays as it is.
func analysisError(err error) error {
	var failed *gates.Failed
	if errors.As(err, &failed) {
		return &analysisFailed{reason: err.Error()}
	}
	return err
}

// meter measures the Metrics gates of one step.
type meter struct {
	env      methods.Env
	observer traffic.Observer
	route    string
	blue     string
	green    string
	index    int
	gates    []v1alpha1.GateSpec
	interval time.Duration
	start    map[string]traffic.BackendStats
	last     map[string]v1alpha1.Measurement
	failures map[string]int
}

func newMeter(ctx context.Context, env methods.Env, mv *bluegreen.Move, index int, list []v1alpha1.GateSpec) (*meter, error) {
	obs, ok := mv.Traffic.(traffic.Observer)
	if !ok {
		return nil, fmt.Errorf("the analysis's Metrics gates need a traffic provider that counts what each backend answers (gateway, haproxy)")
	}
	st := mv.Status()
	m := &meter{env: env, observer: obs, route: mv.ClusterName(), blue: st.Blue, green: st.Green, index: index, gates: list,
		interval: gates.DefaultInterval, last: map[string]v1alpha1.Measurement{}, failures: map[string]int{}}
	for i, g := range list {
		if g.Interval != nil && (i == 0 || g.Interval.Duration < m.interval) {
			m.interval = g.Interval.Duration
		}
	}
	start, err := obs.Observe(ctx, m.route)
	if err != nil {
		return nil, fmt.Errorf("reading the traffic counters of %s: %w", m.route, err)
	}
	m.start = start
	return m, nil
}

// measure takes one measurement of every gate; a gate past its failure
// threshold ends the step.
func (m *meter) measure(ctx context.Context) error {
	now, err := m.observer.Observe(ctx, m.route)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	at := metav1.Now()
	var failed []string
	for _, g := range m.gates {
		ms := v1alpha1.Measurement{Gate: g.Name, Step: m.index, At: at}
		if err != nil {
			ms.Phase, ms.Message = v1alpha1.MeasurementInconclusive, "reading the traffic counters: "+err.Error()
		} else {
			var spec v1alpha1.MetricsGate
			if g.Metrics != nil {
				spec = *g.Metrics
			}
			ms.Phase, ms.Message = analysis.Compare(spec, analysis.Since(m.start[m.blue], now[m.blue]), analysis.Since(m.start[m.green], now[m.green]))
		}
		m.record(ms)
		if ms.Phase != v1alpha1.MeasurementFailed {
			continue
		}
		threshold := gates.DefaultFailureThreshold
		if g.FailureThreshold > 0 {
			threshold = g.FailureThreshold
		}
		m.failures[g.Name]++
		m.env.Progress(fmt.Sprintf("analysis %s: failed measurement %d of %d allowed: %s", g.Name, m.failures[g.Name], threshold, ms.Message))
		if m.failures[g.Name] >= threshold {
			failed = append(failed, fmt.Sprintf("%s: %s", g.Name, ms.Message))
		}
	}
	if len(failed) > 0 {
		return &analysisFailed{reason: strings.Join(failed, "; ")}
	}
	return nil
}

// record keeps the gate's latest measurement of the step, and every
// failed one.
func (m *meter) record(ms v1alpha1.Measurement) {
	m.last[ms.Gate] = ms
	m.env.Record(func(c *v1alpha1.StageClusterStatus) {
		if c.Canary == nil {
			c.Canary = &v1alpha1.CanaryStatus{}
		}
		list := c.Canary.Analysis
		if i := lastOf(list, ms); i >= 0 && list[i].Phase != v1alpha1.MeasurementFailed {
			list[i] = ms
		} else {
			list = append(list, ms)
		}
		c.Canary.Analysis = list
	})
}

func lastOf(list []v1alpha1.Measurement, ms v1alpha1.Measurement) int {
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].Gate == ms.Gate && list[i].Step == ms.Step {
			return i
		}
	}
	return -1
}

// conclusive fails when a gate's last measurement could not judge green.
func (m *meter) conclusive() error {
	for _, g := range m.gates {
		if ms, ok := m.last[g.Name]; !ok || ms.Phase == v1alpha1.MeasurementInconclusive {
			why := "it took no measurement"
			if ok {
				why = ms.Message
			}
			return &analysisFailed{reason: fmt.Sprintf("%s could not judge green by the end of the pause (%s): lengthen the step's pause or lower metrics.minRequests", g.Name, why)}
		}
	}
	return nil
}

func (m *meter) verdicts() []string {
	var out []string
	for _, g := range m.gates {
		out = append(out, g.Name+": "+m.last[g.Name].Message)
	}
	return out
}
