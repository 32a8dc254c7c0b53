package testfleet

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"upshift.dev/upshift/internal/localfleet"
)

// Metrics are the counters and gauges of a /metrics page, by name.
type Metrics map[string][]Sample

// Sample is one series.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Scrape reads a Prometheus text page, with a bearer token if given.
func Scrape(t testing.TB, url, bearer string) Metrics {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return ParseMetrics(t, buf.Bytes(), url)
}

// ParseMetrics reads Prometheus's text format (what read from where says).
func ParseMetrics(t testing.TB, data []byte, where string) Metrics {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("metrics of %s: %v", where, err)
	}
	out := Metrics{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			s := Sample{Labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.Labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				s.Value = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				s.Value = m.GetGauge().GetValue()
			}
			out[name] = append(out[name], s)
		}
	}
	return out
}

// Sum adds up the series of name whose labels include match.
func (m Metrics) Sum(name string, match map[string]string) float64 {
	total := 0.0
	for _, s := range m[name] {
		ok := true
		for k, v := range match {
			if s.Labels[k] != v {
				ok = false
			}
		}
		if ok {
			total += s.Value
		}
	}
	return total
}

// LoopbackAddr returns a free 127.0.0.1 address for a server the test
// starts at once.
func LoopbackAddr(t testing.TB) string {
	t.Helper()
	// Below the ephemeral range: a port 0 picked was free when picked, and
	// an outbound connection of a busy test could take it before the
	// caller bound it ("address already in use", seen in CI).
	addr, err := localfleet.FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
