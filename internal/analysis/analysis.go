package analysis

import (
	"fmt"
	"math"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/providers/traffic"
)

// Defaults of a Metrics gate that does not set them.
const (
	DefaultMaxErrorRatePercent   = 1
	DefaultMaxP95IncreasePercent = 50
	DefaultMinLatencyDelta       = 10 * time.Millisecond
	DefaultMinRequests           = 20
)

// Since is what a backend answered between two readings of its
// cumulative counters. A counter that went down (the provider restarted)
// counts from zero.
func Since(before, now traffic.BackendStats) traffic.BackendStats {
	if now.Requests < before.Requests {
		return now
	}
	out := traffic.BackendStats{Requests: now.Requests - before.Requests, Errors: max(0, now.Errors-before.Errors)}
	prev := map[float64]float64{}
	for _, b := range before.Latency {
		prev[b.UpperBound] = b.Count
	}
	for _, b := range now.Latency {
		out.Latency = append(out.Latency, traffic.Bucket{UpperBound: b.UpperBound, Count: max(0, b.Count-prev[b.UpperBound])})
	}
	return out
}

// ErrorRatio is the share of answers that were errors (0 with none).
func ErrorRatio(s traffic.BackendStats) float64 {
	if s.Requests == 0 {
		return 0
	}
	return s.Errors / s.Requests
}

// Quantile estimates the q-quantile of a cumulative histogram as
// Prometheus's histogram_quantile does: linear within the bucket that
// holds it, the lowest bucket starting at 0, and the highest finite bound
// when it falls in the +Inf bucket. NaN without observations.
func Quantile(q float64, buckets []traffic.Bucket) float64 {
	if len(buckets) == 0 {
		return math.NaN()
	}
	total := buckets[len(buckets)-1].Count
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range buckets {
		if b.Count >= rank {
			if math.IsInf(b.UpperBound, 1) {
				return lower
			}
			if b.Count == below {
				return b.UpperBound
			}
			return lower + (b.UpperBound-lower)*(rank-below)/(b.Count-below)
		}
		lower, below = b.UpperBound, b.Count
	}
	return lower
}

// Compare measures green against blue over the same span with a Metrics
// gate's limits. Green's error ratio is checked on its own; its p95 is
// checked against blue's when blue also served enough requests to have
// one.
func Compare(gate v1alpha1.MetricsGate, blue, green traffic.BackendStats) (phase, message string) {
	maxErr, maxIncrease, delta, minReq := DefaultMaxErrorRatePercent, DefaultMaxP95IncreasePercent, DefaultMinLatencyDelta, DefaultMinRequests
	if gate.MaxErrorRatePercent != nil {
		maxErr = *gate.MaxErrorRatePercent
	}
	if gate.MaxP95IncreasePercent != nil {
		maxIncrease = *gate.MaxP95IncreasePercent
	}
	if gate.MinLatencyDelta != nil {
		delta = gate.MinLatencyDelta.Duration
	}
	if gate.MinRequests > 0 {
		minReq = gate.MinRequests
	}
	gp95, bp95 := seconds(Quantile(0.95, green.Latency)), seconds(Quantile(0.95, blue.Latency))
	message = fmt.Sprintf("green %s, blue %s", describe(green, gp95), describe(blue, bp95))
	if green.Requests < float64(minReq) {
		return v1alpha1.MeasurementInconclusive, fmt.Sprintf("%s: green answered fewer than %d requests", message, minReq)
	}
	if ratio := ErrorRatio(green); ratio*100 > float64(maxErr) {
		return v1alpha1.MeasurementFailed, fmt.Sprintf("%s: green's error ratio %.2f%% is over %d%%", message, ratio*100, maxErr)
	}
	if blue.Requests >= float64(minReq) && gp95 > 0 && bp95 > 0 {
		limit := bp95 + bp95*time.Duration(maxIncrease)/100
		if gp95 > limit && gp95-bp95 >= delta {
			return v1alpha1.MeasurementFailed, fmt.Sprintf("%s: green's p95 is over blue's +%d%% (%s)", message, maxIncrease, limit.Round(100*time.Microsecond))
		}
	}
	return v1alpha1.MeasurementSuccessful, message
}

func seconds(s float64) time.Duration {
	if math.IsNaN(s) {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

func describe(s traffic.BackendStats, p95 time.Duration) string {
	out := fmt.Sprintf("%.0f req, %.2f%% errors", s.Requests, ErrorRatio(s)*100)
	if p95 > 0 {
		out += ", p95 " + p95.Round(100*time.Microsecond).String()
	}
	return out
}
