package analysis_test

import (
	"math"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/analysis"
	"upshift.dev/upshift/internal/providers/traffic"
)

// hist builds a cumulative histogram on bounds 1ms, 2ms, 4ms, 8ms, 16ms,
// +Inf from the number of answers in each bucket.
func hist(perBucket ...float64) []traffic.Bucket {
	bounds := []float64{0.001, 0.002, 0.004, 0.008, 0.016, math.Inf(1)}
	var out []traffic.Bucket
	sum := 0.0
	for i, b := range bounds {
		if i < len(perBucket) {
			sum += perBucket[i]
		}
		out = append(out, traffic.Bucket{UpperBound: b, Count: sum})
	}
	return out
}

func stats(requests, errors float64, perBucket ...float64) traffic.BackendStats {
	return traffic.BackendStats{Requests: requests, Errors: errors, Latency: hist(perBucket...)}
}

func TestQuantile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		buckets []traffic.Bucket
		q, want float64
	}{
		{"all in the first bucket: interpolated from 0", hist(100), 0.95, 0.00095},
		{"in the third bucket", hist(10, 10, 80), 0.95, 0.002 + 0.002*(95-20)/80},
		{"on a bucket's edge", hist(50, 50), 0.5, 0.001},
		{"in +Inf: the highest finite bound", hist(0, 0, 0, 0, 0, 10), 0.95, 0.016},
		{"no observations", hist(), 0.95, math.NaN()},
		{"no buckets", nil, 0.95, math.NaN()},
	} {
		got := analysis.Quantile(tc.q, tc.buckets)
		if math.IsNaN(tc.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tc.want) > 1e-9) {
			t.Errorf("%s: Quantile(%v) = %v, want %v", tc.name, tc.q, got, tc.want)
		}
	}
}

func TestSince(t *testing.T) {
	before, now := stats(100, 1, 100), stats(150, 11, 100, 50)
	d := analysis.Since(before, now)
	if d.Requests != 50 || d.Errors != 10 || d.Latency[0].Count != 0 || d.Latency[1].Count != 50 {
		t.Errorf("Since = %+v", d)
	}
	// The provider restarted: its counters start again from zero.
	if d := analysis.Since(stats(1000, 5, 1000), stats(30, 0, 30)); d.Requests != 30 || d.Latency[0].Count != 30 {
		t.Errorf("after a restart, Since = %+v", d)
	}
}

func TestCompare(t *testing.T) {
	pct := func(v int) *int { return &v }
	for _, tc := range []struct {
		name        string
		gate        v1alpha1.MetricsGate
		blue, green traffic.BackendStats
		phase, says string
	}{
		{"healthy green", v1alpha1.MetricsGate{}, stats(900, 0, 900), stats(100, 0, 100), v1alpha1.MeasurementSuccessful, "green 100 req, 0.00% errors"},
		{"too few requests to tell", v1alpha1.MetricsGate{}, stats(900, 0, 900), stats(10, 5, 10), v1alpha1.MeasurementInconclusive, "fewer than 20 requests"},
		{"error ratio over the default 1%", v1alpha1.MetricsGate{}, stats(900, 0, 900), stats(100, 2, 100), v1alpha1.MeasurementFailed, "green's error ratio 2.00% is over 1%"},
		{"error ratio within a raised limit", v1alpha1.MetricsGate{MaxErrorRatePercent: pct(5)}, stats(900, 0, 900), stats(100, 2, 100), v1alpha1.MeasurementSuccessful, ""},
		{"p95 far over blue's", v1alpha1.MetricsGate{MinLatencyDelta: &metav1.Duration{Duration: time.Millisecond}}, stats(900, 0, 900), stats(100, 0, 0, 0, 0, 100), v1alpha1.MeasurementFailed, "green's p95 is over blue's +50%"},
		{"p95 over blue's but by less than the minimum delta", v1alpha1.MetricsGate{}, stats(900, 0, 900), stats(100, 0, 0, 0, 100), v1alpha1.MeasurementSuccessful, ""},
		{"blue idle (green at 100%): errors alone decide", v1alpha1.MetricsGate{MinLatencyDelta: &metav1.Duration{}}, stats(0, 0), stats(100, 0, 0, 0, 0, 100), v1alpha1.MeasurementSuccessful, ""},
	} {
		phase, msg := analysis.Compare(tc.gate, tc.blue, tc.green)
		if phase != tc.phase || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: %s %q, want %s saying %q", tc.name, phase, msg, tc.phase, tc.says)
		}
	}
}
