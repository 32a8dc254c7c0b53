package gates_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/gates"
	"upshift.dev/upshift/internal/gates/gatespec"
	"upshift.dev/upshift/internal/testfleet"
)

func TestParseCondition(t *testing.T) {
	for in, want := range map[string]string{"result < 0.01": "result < 0.01", "result>=5": "result >= 5", " result != 0 ": "result != 0", "result == 1e3": "result == 1000"} {
		c, err := gatespec.ParseCondition(in)
		if err != nil || c.String() != want {
			t.Errorf("ParseCondition(%q) = %v, %v; want %s", in, c, err, want)
		}
	}
	for in, says := range map[string]string{"x < 1": "write result OP NUMBER", "result ~ 1": "no operator", "result < ten": `"ten" is not a number`, "": "write result OP NUMBER"} {
		if _, err := gatespec.ParseCondition(in); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("ParseCondition(%q): %v, want it to say %q", in, err, says)
		}
	}
	c, _ := gatespec.ParseCondition("result <= 0.5")
	if !c.Holds(0.5) || c.Holds(0.51) {
		t.Error("<= does not hold as it should")
	}
}

// TestPrometheusGate measures a gauge through a real Prometheus: the gate
// passes, fails past its failure limit, and is inconclusive on a query
// that matches nothing, with its placeholders replaced.
func TestPrometheusGate(t *testing.T) {
	var value atomic.Int64 // in thousandths
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "# TYPE app_error_ratio gauge\napp_error_ratio{backend=\"shop-g2\"} %g\napp_error_ratio{backend=\"shop\"} 0\n", float64(value.Load())/1000)
	}))
	defer exporter.Close()
	prom := testfleet.Prometheus(t, strings.TrimPrefix(exporter.URL, "http://"))
	gate := func(cond string, count, failureLimit int) v1alpha1.GateSpec {
		return v1alpha1.GateSpec{Name: "errors", Type: v1alpha1.GatePrometheus, Interval: &metav1.Duration{Duration: 100 * time.Millisecond},
			Prometheus: &v1alpha1.PrometheusGate{Address: prom, Query: `max(app_error_ratio{backend="{{green}}"})`, SuccessCondition: cond, Count: count, FailureLimit: failureLimit}}
	}
	target := gates.Target{Cluster: "shop", Blue: "shop", Green: "shop-g2"}
	ctx := t.Context()

	value.Store(5) // 0.005
	waitScraped(t, prom, 0.005)
	res, err := gates.Run(ctx, gate("result < 0.01", 3, 0), target, nil, "")
	if err != nil || res.Attempts != 3 || !strings.Contains(res.Message, "measurement 3 of 3: result = 0.005 (result < 0.01)") {
		t.Errorf("healthy: %v %+v", err, res)
	}

	value.Store(50) // 0.05
	waitScraped(t, prom, 0.05)
	res, err = gates.Run(ctx, gate("result < 0.01", 5, 1), target, nil, "")
	var failed *gates.Failed
	if !asFailed(err, &failed) || res.Attempts != 2 || !strings.Contains(failed.Error(), "gate errors (Prometheus): measurement 2 of 5: result 0.05 does not meet result < 0.01 (failed 2, inconclusive 0)") {
		t.Errorf("over the limit: %v %+v", err, res)
	}
	if _, err := gates.Run(ctx, gate("result < 0.1", 2, 0), target, nil, ""); err != nil {
		t.Errorf("within a looser condition: %v", err)
	}

	nothing := gate("result < 0.01", 1, 0)
	nothing.Prometheus.Query = `max(app_error_ratio{backend="{{cluster}}-nope"})`
	_, err = gates.Run(ctx, nothing, target, nil, "")
	if !asFailed(err, &failed) || !strings.Contains(failed.Error(), "inconclusive: the query returned no sample") || !strings.Contains(failed.Error(), `backend="shop-nope"`) {
		t.Errorf("a query matching nothing: %v", err)
	}
}

func asFailed(err error, target **gates.Failed) bool { return errors.As(err, target) }

// waitScraped waits until Prometheus holds the value for green.
func waitScraped(t *testing.T, prom string, want float64) {
	t.Helper()
	g := v1alpha1.GateSpec{Name: "scraped", Type: v1alpha1.GatePrometheus, Prometheus: &v1alpha1.PrometheusGate{Address: prom, Query: `max(app_error_ratio{backend="shop-g2"})`, SuccessCondition: fmt.Sprintf("result == %g", want)}}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if _, err := gates.Run(t.Context(), g, gates.Target{}, nil, ""); err == nil {
			return
		}
	}
	t.Fatalf("Prometheus never scraped %g", want)
}
