package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// CanarySpec configures method Canary: green is built and filled exactly
// as in a blue-green move (spec.blueGreen: traffic, sync, freeze,
// validation, blueSoak, keepBlue), then takes a growing share of the
// cluster name's traffic, step by step, while the analysis watches it. A
// failed analysis sends all traffic back to blue within seconds and keeps
// green for inspection; after the last step (100%) blue is retired as in
// T4.
type CanarySpec struct {
	// Steps in order; weights never go down and the last is 100 (a
	// final {weight: 100} is added when it is not).
	Steps []CanaryStep `json:"steps"`
	// Analysis runs through every step's pause: Metrics gates compare
	// green with blue from the traffic provider's counters at their
	// interval; other gates must pass before the step ends.
	Analysis []GateSpec `json:"analysis,omitempty"`
}

// CanaryStep is one share of traffic held for a while.
type CanaryStep struct {
	// Weight is green's share of the cluster name's traffic, in percent
	// (0 only on a testers step).
	Weight int `json:"weight"`
	// Pause is how long the weight is held while the analysis runs
	// (default 0: the analysis's gates run once).
	Pause *metav1.Duration `json:"pause,omitempty"`
	// Approval holds the step, once its pause is over, until
	// `upshift approve RUN --gate canary-step-N` (N counts from 1).
	Approval bool `json:"approval,omitempty"`
	// Testers (the first step only, at weight 0, gateway only) lets
	// testers reach green before any user does: requests with the
	// gateway's pin header naming green (from loopback, or carrying the
	// gateway's pin secret) go to green; users stay on blue. Pinning ends
	// when green takes all the traffic, or the canary rolls back.
	Testers bool `json:"testers,omitempty"`
}

// MetricsGate compares green with blue from the counters of the traffic
// provider (upshift's gateway): each measurement covers the traffic
// since the step set its weight.
type MetricsGate struct {
	// MaxErrorRatePercent is the share of green's answers that may be
	// errors (5xx or no answer; default 1).
	MaxErrorRatePercent *int `json:"maxErrorRatePercent,omitempty"`
	// MaxP95IncreasePercent is how much green's p95 latency may exceed
	// blue's (default 50: up to 1.5× blue's)...
	MaxP95IncreasePercent *int `json:"maxP95IncreasePercent,omitempty"`
	// ...unless the difference is under MinLatencyDelta (default 10ms),
	// which is noise, not a regression.
	MinLatencyDelta *metav1.Duration `json:"minLatencyDelta,omitempty"`
	// MinRequests green must have answered before a measurement counts
	// (default 20); fewer is inconclusive.
	MinRequests int `json:"minRequests,omitempty"`
}

// CanaryStatus is a cluster's canary: where its traffic is, and what the
// analysis measured.
type CanaryStatus struct {
	// Step is the traffic step under way or last done (from 1), and
	// Weight green's share it set.
	Step   int `json:"step,omitempty"`
	Weight int `json:"weight"`
	// StepStarted is when that step first set its weight: its pause
	// counts from here, across restarts of upshift, and starts over when
	// a rolled-back canary runs its steps again.
	StepStarted *metav1.Time `json:"stepStarted,omitempty"`
	// Analysis holds the last measurement of each Metrics gate, and the
	// ones that failed.
	Analysis []Measurement `json:"analysis,omitempty"`
	// Promoted is when `upshift promote` skipped the remaining steps.
	Promoted *metav1.Time `json:"promoted,omitempty"`
	// RolledBack is when the canary last sent all traffic back to blue: a
	// promotion given before it does not carry over to a resumed canary.
	RolledBack *metav1.Time `json:"rolledBack,omitempty"`
}

// Measurement is one analysis measurement of green against blue.
type Measurement struct {
	Gate string      `json:"gate"`
	Step int         `json:"step"`
	At   metav1.Time `json:"at"`
	// Phase is Successful, Failed or Inconclusive.
	Phase string `json:"phase"`
	// Message gives the measured values: requests, error ratios, p95s.
	Message string `json:"message"`
}

// Measurement phases (Argo Rollouts' names).
const (
	MeasurementSuccessful   = "Successful"
	MeasurementFailed       = "Failed"
	MeasurementInconclusive = "Inconclusive"
)
