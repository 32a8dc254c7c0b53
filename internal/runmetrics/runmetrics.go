package runmetrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"upshift.dev/upshift/api/v1alpha1"
)

// Runs lists the runs to report (store.Store.List).
type Runs func() ([]*v1alpha1.UpdateRun, error)

// StepBuckets are the step duration histogram's bounds, in seconds: a
// gate of a second to a pool of hours.
var StepBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400}

var (
	runPhase     = prometheus.NewDesc("upshift_run_phase", "1 for the phase the run is in.", []string{"run", "method", "phase"}, nil)
	stagePhase   = prometheus.NewDesc("upshift_stage_phase", "1 for the phase each stage of a run is in.", []string{"run", "stage", "phase"}, nil)
	clusterPhase = prometheus.NewDesc("upshift_cluster_phase", "1 for the phase each cluster of a run is in.", []string{"run", "stage", "cluster", "phase"}, nil)
	stepDuration = prometheus.NewDesc("upshift_step_duration_seconds", "How long finished steps took, by method and step kind.", []string{"method", "kind"}, nil)
	stepRunning  = prometheus.NewDesc("upshift_step_running_seconds", "How long each step under way (or waiting for its maintenance window) has been at it.", []string{"run", "stage", "cluster", "step", "phase"}, nil)
	stepFailures = prometheus.NewDesc("upshift_step_failures", "Steps whose last attempt failed, by run and step kind.", []string{"run", "kind"}, nil)
	weight       = prometheus.NewDesc("upshift_traffic_weight_percent", "The share of a moved cluster's traffic upshift set on blue and on green.", []string{"run", "cluster", "side", "backend"}, nil)
	measurements = prometheus.NewDesc("upshift_canary_measurements", "Canary analysis measurements recorded, by gate and phase (Successful, Failed, Inconclusive).", []string{"run", "cluster", "gate", "phase"}, nil)
	waiting      = prometheus.NewDesc("upshift_approval_waiting_seconds", "How long each stage approval has waited.", []string{"run", "stage", "task"}, nil)
	scrapeErrors = prometheus.NewDesc("upshift_runs_unreadable", "1 when the runs could not be listed at this scrape.", nil, nil)
)

// Collector reports the runs at each scrape.
type Collector struct {
	Runs Runs
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

var _ prometheus.Collector = (*Collector)(nil)

// Describe sends the metrics' descriptions.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{runPhase, stagePhase, clusterPhase, stepDuration, stepRunning, stepFailures, weight, measurements, waiting, scrapeErrors} {
		ch <- d
	}
}

// Collect reads the runs and sends their metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	runs, err := c.Runs()
	unreadable := 0.0
	if err != nil {
		unreadable = 1
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrors, prometheus.GaugeValue, unreadable)
	durations := map[[2]string][]float64{}
	for _, run := range runs {
		method := run.Spec.Method
		if method == "" {
			method = v1alpha1.MethodInPlace
		}
		st := run.Status
		ch <- gauge(runPhase, 1, run.Name, method, orPending(st.Phase))
		failures := map[string]int{}
		for _, s := range st.Stages {
			ch <- gauge(stagePhase, 1, run.Name, s.Name, orPending(s.Phase))
			for _, t := range append(append([]v1alpha1.TaskStatus{}, s.BeforeTasks...), s.AfterTasks...) {
				if t.Type == v1alpha1.TaskApproval && t.Start != nil && (t.Phase == v1alpha1.PhaseRunning || t.Phase == v1alpha1.PhaseWaiting) {
					ch <- gauge(waiting, now().Sub(t.Start.Time).Seconds(), run.Name, s.Name, t.Name)
				}
			}
			for _, cl := range s.Clusters {
				ch <- gauge(clusterPhase, 1, run.Name, s.Name, cl.Name, orPending(cl.Phase))
				for _, step := range cl.Steps {
					switch {
					case step.Phase == v1alpha1.PhaseCompleted && step.Start != nil && step.End != nil:
						key := [2]string{method, step.Kind}
						durations[key] = append(durations[key], step.End.Sub(step.Start.Time).Seconds())
					case (step.Phase == v1alpha1.PhaseRunning || step.Phase == v1alpha1.PhaseWaiting) && step.Start != nil && st.Phase == v1alpha1.PhaseRunning:
						ch <- gauge(stepRunning, now().Sub(step.Start.Time).Seconds(), run.Name, s.Name, cl.Name, step.Name, step.Phase)
					case step.Phase == v1alpha1.PhaseFailed:
						failures[step.Kind]++
					}
				}
				if bg := cl.BlueGreen; bg != nil {
					green := 0
					switch {
					case cl.Canary != nil:
						green = cl.Canary.Weight
					case bg.Switched != nil && bg.RolledBack == nil:
						green = 100
					}
					ch <- gauge(weight, float64(100-green), run.Name, cl.Name, "blue", bg.Blue)
					ch <- gauge(weight, float64(green), run.Name, cl.Name, "green", bg.Green)
				}
				if cn := cl.Canary; cn != nil {
					counts := map[[2]string]int{}
					for _, m := range cn.Analysis {
						counts[[2]string{m.Gate, m.Phase}]++
					}
					for k, n := range counts {
						ch <- gauge(measurements, float64(n), run.Name, cl.Name, k[0], k[1])
					}
				}
			}
		}
		for kind, n := range failures {
			ch <- gauge(stepFailures, float64(n), run.Name, kind)
		}
	}
	for key, values := range durations {
		ch <- histogram(stepDuration, values, key[0], key[1])
	}
}

func orPending(phase string) string {
	if phase == "" {
		return v1alpha1.PhaseNotStarted
	}
	return phase
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func histogram(d *prometheus.Desc, values []float64, labels ...string) prometheus.Metric {
	buckets := map[float64]uint64{}
	for _, b := range StepBuckets {
		buckets[b] = 0 // a bucket left out of the map is left out of the scrape
	}
	sum := 0.0
	for _, v := range values {
		sum += v
		for _, b := range StepBuckets {
			if v <= b {
				buckets[b]++
			}
		}
	}
	return prometheus.MustNewConstHistogram(d, uint64(len(values)), sum, buckets, labels...)
}
