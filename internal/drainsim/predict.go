package drainsim

import (
	"fmt"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/nodepool"
)

// Figure is one measured or assumed duration: its median, its 95th
// percentile, and where the two come from.
type Figure struct {
	P50    time.Duration `json:"p50"`
	P95    time.Duration `json:"p95"`
	Source string        `json:"source"`
}

// Timings are what a pool's upgrade takes per step: surge nodes becoming
// Ready (per batch that adds them) and one node's drain and deletion (the
// nodes of a batch drain at once).
type Timings struct {
	NodeReady Figure `json:"nodeReady"`
	Drain     Figure `json:"drain"`
}

// DefaultTimings are assumed when no run of the provider was measured:
// the local fleet's from its node-pool benchmark, a cloud's from the
// minutes a VM takes to boot and join, and a typical drain.
func DefaultTimings(provider string) Timings {
	if provider == "local" {
		src := "default for local clusters (upshift's node-pool benchmark)"
		return Timings{NodeReady: Figure{P50: time.Second, P95: 3 * time.Second, Source: src}, Drain: Figure{P50: 5 * time.Second, P95: 15 * time.Second, Source: src}}
	}
	src := "default for cloud node pools (no run of provider " + provider + " measured yet)"
	return Timings{NodeReady: Figure{P50: 4 * time.Minute, P95: 8 * time.Minute, Source: src}, Drain: Figure{P50: 2 * time.Minute, P95: 10 * time.Minute, Source: src}}
}

// TimingsFrom are the timings measured by finished NodePool steps (their
// records in the store's runs): the median of their medians, and the 95th
// percentile of all their figures; ok is false with no record.
func TimingsFrom(recs []v1alpha1.NodePoolRecord, source string) (Timings, bool) {
	var ready50, ready, drain50, drain []time.Duration
	for _, r := range recs {
		if r.NodeReadyP50.Duration > 0 {
			ready50 = append(ready50, r.NodeReadyP50.Duration)
			ready = append(ready, r.NodeReadyP50.Duration, r.NodeReadyP95.Duration)
		}
		if r.DrainP50.Duration > 0 {
			drain50 = append(drain50, r.DrainP50.Duration)
			drain = append(drain, r.DrainP50.Duration, r.DrainP95.Duration)
		}
	}
	if len(drain50) == 0 {
		return Timings{}, false
	}
	fig := func(p50, all []time.Duration) Figure {
		return Figure{P50: nodepool.Percentile(p50, 0.5), P95: nodepool.Percentile(all, 0.95), Source: fmt.Sprintf("%s (%d pool upgrade(s))", source, len(p50))}
	}
	t := Timings{Drain: fig(drain50, drain)}
	if len(ready50) > 0 {
		t.NodeReady = fig(ready50, ready)
	}
	return t, true
}

// History are the timings of each provider's finished NodePool steps in
// runs, with the defaults for a provider none measured.
func History(runs []*v1alpha1.UpdateRun) func(provider string) Timings {
	recs := map[string][]v1alpha1.NodePoolRecord{}
	for _, r := range runs {
		for _, st := range r.Status.Stages {
			for _, c := range st.Clusters {
				for _, step := range c.Steps {
					if rec := step.NodePool; rec != nil && step.Phase == v1alpha1.PhaseCompleted {
						recs[rec.Provider] = append(recs[rec.Provider], *rec)
					}
				}
			}
		}
	}
	return func(provider string) Timings {
		t, ok := TimingsFrom(recs[provider], "measured by this home's runs on provider "+provider)
		if !ok {
			return DefaultTimings(provider)
		}
		if t.NodeReady.Source == "" {
			t.NodeReady = DefaultTimings(provider).NodeReady
		}
		return t
	}
}

// Prediction is how long the pool's upgrade will take.
type Prediction struct {
	// Expected is with every step at its median; AtWorst at its 95th
	// percentile.
	Expected time.Duration `json:"expected"`
	AtWorst  time.Duration `json:"atWorst"`
	Timings  Timings       `json:"timings"`
	// Fails says the upgrade stops at a blocked batch after its drain
	// timeout: the figures are until then.
	Fails bool `json:"fails,omitempty"`
}

// Predict sets the result's duration, the longer of two limits:
//
//   - the nodes: per batch, the wait for its surge nodes, one node's drain
//     (the batch's nodes drain at once), and the soak;
//   - the budgets: the pool's budget waves (Result.BudgetWaves), each a
//     drain's time at most (a drain measured with one wave per node), and
//     the soaks.
//
// A blocked batch waits out the drain timeout.
func Predict(res *Result, pool Pool, t Timings) *Prediction {
	drainTimeout := pool.DrainTimeout
	if drainTimeout == 0 {
		drainTimeout = nodepool.DefaultDrainTimeout
	}
	p := &Prediction{Timings: t}
	var soaks, blocked time.Duration
	for _, b := range res.Batches {
		if b.Surge > 0 {
			p.Expected += t.NodeReady.P50
			p.AtWorst += t.NodeReady.P95
		}
		if b.Blocked {
			blocked += drainTimeout
		} else {
			p.Expected += t.Drain.P50
			p.AtWorst += t.Drain.P95
		}
		soaks += pool.Soak
	}
	waves := time.Duration(res.BudgetWaves)
	p.Expected = max(p.Expected, waves*t.Drain.P50) + soaks + blocked
	p.AtWorst = max(p.AtWorst, waves*t.Drain.P95) + soaks + blocked
	p.Fails = res.StopsAt > 0
	res.Duration = p
	return p
}

// WindowFit says whether a pool's upgrade fits the maintenance window its
// step waits for. A step starts only in an open window but is not cut
// at its close: a pool that does not fit runs past it.
type WindowFit struct {
	Window string        `json:"window"`
	Length time.Duration `json:"length"`
	Fits   bool          `json:"fits"`
	// Message says it in a sentence.
	Message string `json:"message"`
}

// Fit compares the pool's predicted duration with the shortest window
// its step waits for (described by window, length long).
func Fit(res *Result, window string, length time.Duration) *WindowFit {
	p := res.Duration
	if p == nil {
		return nil
	}
	f := &WindowFit{Window: window, Length: length, Fits: p.Expected <= length}
	need := fmt.Sprintf("%d node(s) at maxSurge %d need about %s (at worst %s)", res.Replaced, res.MaxSurge, Short(p.Expected), Short(p.AtWorst))
	if p.Fails {
		need = fmt.Sprintf("the upgrade of %d node(s) at maxSurge %d fails after about %s (at worst %s)", res.Replaced, res.MaxSurge, Short(p.Expected), Short(p.AtWorst))
	}
	switch {
	case !f.Fits:
		f.Message = fmt.Sprintf("does not fit: %s; %s lasts %s, so the pool's upgrade would run about %s past its close: raise maxSurge, lengthen the window, or split the pool", need, window, Short(length), Short(p.Expected-length))
	case p.AtWorst > length:
		f.Message = fmt.Sprintf("fits if steps take their median: %s; %s lasts %s", need, window, Short(length))
	default:
		f.Message = fmt.Sprintf("fits: %s; %s lasts %s", need, window, Short(length))
	}
	return f
}

// Short writes a predicted duration as people say it: 6h40m, 4m10s, 12s.
func Short(d time.Duration) string {
	switch {
	case d >= time.Hour:
		d = d.Round(time.Minute)
		if m := d % time.Hour; m != 0 {
			return fmt.Sprintf("%dh%dm", d/time.Hour, m/time.Minute)
		}
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute:
		d = d.Round(time.Second)
		if d%time.Minute == 0 {
			return fmt.Sprintf("%dm", d/time.Minute)
		}
		return d.String()
	}
	return d.Round(100 * time.Millisecond).String()
}
