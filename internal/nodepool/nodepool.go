package nodepool

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Event reports one step of an upgrade, for progress and audit.
type Event struct {
	Time    time.Time
	Step    string // Surge, Ready, Cordon, Drain, Delete, Soak, Done
	Nodes   []string
	Message string
}

// What to do with nodes that cannot be drained.
const (
	UndrainableSchedule = "Schedule"
	UndrainableCordon   = "Cordon"
)

// LabelQuarantined marks an old node that could not be drained and was
// left cordoned (UndrainableCordon).
const LabelQuarantined = "upshift.dev/upgrade-status"

// Result summarises a finished upgrade.
type Result struct {
	Replaced int `json:"replaced"`
	// Batches counts the times the window of maxSurge nodes was filled
	// with old nodes: their number over maxSurge when drains end
	// together, more when they end one by one.
	Batches  int           `json:"batches"`
	Duration time.Duration `json:"-"`
	// Quarantined are old nodes left cordoned because they could not be
	// drained (UndrainableCordon); they keep their pods.
	Quarantined []string `json:"quarantined,omitempty"`
	// NodeReady are the waits for each batch's surge nodes to be Ready,
	// and Drains the time each old node took from the start of its drain
	// to its deletion (a soak not included).
	NodeReady []time.Duration `json:"-"`
	Drains    []time.Duration `json:"-"`
}

// DrainError says which pods, and which budgets, kept nodes from draining.
type DrainError struct {
	Nodes    []string
	Timeout  time.Duration
	Blockers []Blocker
	Err      error
	// Escalation says why an undrainable escalation did not finish it.
	Escalation string
}

// Blocker is a pod that could not be evicted and the budgets that forbade it.
type Blocker struct {
	Pod  string   // namespace/name
	PDBs []string // "namespace/name (allows 0 disruptions, ...)"
}

func (e *DrainError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "draining %s did not finish within %s", strings.Join(e.Nodes, ", "), e.Timeout)
	if len(e.Blockers) == 0 {
		fmt.Fprintf(&b, ": %v", e.Err)
		return b.String()
	}
	b.WriteString(": ")
	for i, bl := range e.Blockers {
		if i > 0 {
			b.WriteString("; ")
		}
		if len(bl.PDBs) == 0 {
			fmt.Fprintf(&b, "pod %s was not evicted", bl.Pod)
			continue
		}
		fmt.Fprintf(&b, "pod %s is protected by PodDisruptionBudget %s", bl.Pod, strings.Join(bl.PDBs, ", "))
	}
	b.WriteString(" — relax the budget, add replicas, or raise the drain timeout")
	if e.Escalation != "" {
		b.WriteString("; " + e.Escalation)
	}
	return b.String()
}

func (e *DrainError) Unwrap() error { return e.Err }

// Permanent: a drain that ran out of time is not a passing fault, even
// when what refused it was a 429 (a budget that does not yield).
func (e *DrainError) Permanent() bool { return true }

// DefaultDrainTimeout is how long a node's drain may wait on budgets
// when a run, a patch or a command names no drainTimeout: one default on
// every path, and AKS's own (drainTimeoutInMinutes 30).
const DefaultDrainTimeout = 30 * time.Minute

// Percentile is the q-th quantile (0 < q ≤ 1) of the durations by the
// nearest rank; 0 for none. It sorts d.
func Percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(q*float64(len(d))))]
}
