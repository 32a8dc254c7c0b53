package runmetrics_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/runmetrics"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) *metav1.Time { t := metav1.NewTime(t0.Add(d)); return &t }

// runs stores a canary under way (a step done, a traffic step running at
// 25%, a failed and a good measurement) and a failed in-place run whose
// production stage still waits for its sign-off.
func runs(t *testing.T) *store.Store {
	t.Helper()
	st := &store.Store{Dir: t.TempDir()}
	canary := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "canary-shop"}, Spec: v1alpha1.UpdateRunSpec{Method: v1alpha1.MethodCanary}}
	canary.Status = v1alpha1.UpdateRunStatus{Phase: v1alpha1.PhaseRunning, Stages: []v1alpha1.StageStatus{{Name: "prod", Phase: v1alpha1.PhaseRunning, Clusters: []v1alpha1.StageClusterStatus{{
		Name: "shop", Phase: v1alpha1.PhaseRunning,
		Steps: []v1alpha1.StepStatus{
			{Name: "T1-DeployGreen", Kind: "T1-DeployGreen", Phase: v1alpha1.PhaseCompleted, Start: at(0), End: at(9 * time.Second)},
			{Name: "T3-Canary 1", Kind: "T3-Canary", Index: 1, Phase: v1alpha1.PhaseRunning, Start: at(time.Minute)},
		},
		BlueGreen: &v1alpha1.BlueGreenStatus{Blue: "shop", Green: "shop-g2"},
		Canary: &v1alpha1.CanaryStatus{Step: 1, Weight: 25, Analysis: []v1alpha1.Measurement{
			{Gate: "green-vs-blue", Step: 1, Phase: v1alpha1.MeasurementFailed, At: *at(70 * time.Second)},
			{Gate: "green-vs-blue", Step: 1, Phase: v1alpha1.MeasurementSuccessful, At: *at(80 * time.Second)},
		}},
	}}}}}
	inplace := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "fleet-137"}}
	inplace.Status = v1alpha1.UpdateRunStatus{Phase: v1alpha1.PhaseFailed, Stages: []v1alpha1.StageStatus{{Name: "production", Phase: v1alpha1.PhaseRunning,
		BeforeTasks: []v1alpha1.TaskStatus{{Name: "sign-off", Type: v1alpha1.TaskApproval, Phase: v1alpha1.PhaseRunning, Start: at(0)}},
		Clusters: []v1alpha1.StageClusterStatus{{Name: "prod", Phase: v1alpha1.PhaseFailed, Steps: []v1alpha1.StepStatus{
			{Name: "ControlPlane v1.37.2", Kind: "ControlPlane", Phase: v1alpha1.PhaseCompleted, Start: at(0), End: at(7 * time.Second)},
			{Name: "NodePool user", Kind: "NodePool", Phase: v1alpha1.PhaseFailed, Start: at(10 * time.Second), End: at(time.Hour)},
		}}},
	}}}
	for _, r := range []*v1alpha1.UpdateRun{canary, inplace} {
		if err := st.Create(r); err != nil {
			t.Fatal(err)
		}
		if err := st.SaveStatus(r.Name, &r.Status); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func TestCollector(t *testing.T) {
	st := runs(t)
	c := &runmetrics.Collector{Runs: st.List, Now: func() time.Time { return t0.Add(2 * time.Minute) }}
	want := `
# HELP upshift_approval_waiting_seconds How long each stage approval has waited.
# TYPE upshift_approval_waiting_seconds gauge
upshift_approval_waiting_seconds{run="fleet-137",stage="production",task="sign-off"} 120
# HELP upshift_canary_measurements Canary analysis measurements recorded, by gate and phase (Successful, Failed, Inconclusive).
# TYPE upshift_canary_measurements gauge
upshift_canary_measurements{cluster="shop",gate="green-vs-blue",phase="Failed",run="canary-shop"} 1
upshift_canary_measurements{cluster="shop",gate="green-vs-blue",phase="Successful",run="canary-shop"} 1
# HELP upshift_run_phase 1 for the phase the run is in.
# TYPE upshift_run_phase gauge
upshift_run_phase{method="Canary",phase="Running",run="canary-shop"} 1
upshift_run_phase{method="InPlace",phase="Failed",run="fleet-137"} 1
# HELP upshift_step_failures Steps whose last attempt failed, by run and step kind.
# TYPE upshift_step_failures gauge
upshift_step_failures{kind="NodePool",run="fleet-137"} 1
# HELP upshift_step_running_seconds How long each step under way (or waiting for its maintenance window) has been at it.
# TYPE upshift_step_running_seconds gauge
upshift_step_running_seconds{cluster="shop",phase="Running",run="canary-shop",stage="prod",step="T3-Canary 1"} 60
# HELP upshift_traffic_weight_percent The share of a moved cluster's traffic upshift set on blue and on green.
# TYPE upshift_traffic_weight_percent gauge
upshift_traffic_weight_percent{backend="shop",cluster="shop",run="canary-shop",side="blue"} 75
upshift_traffic_weight_percent{backend="shop-g2",cluster="shop",run="canary-shop",side="green"} 25
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "upshift_approval_waiting_seconds", "upshift_canary_measurements", "upshift_run_phase",
		"upshift_step_failures", "upshift_step_running_seconds", "upshift_traffic_weight_percent"); err != nil {
		t.Error(err)
	}
	hist := `
# HELP upshift_step_duration_seconds How long finished steps took, by method and step kind.
# TYPE upshift_step_duration_seconds histogram
upshift_step_duration_seconds_bucket{kind="ControlPlane",method="InPlace",le="1"} 0
upshift_step_duration_seconds_bucket{kind="ControlPlane",method="InPlace",le="5"} 0
upshift_step_duration_seconds_bucket{kind="ControlPlane",method="InPlace",le="15"} 1
`
	got, err := testutil.CollectAndFormat(c, expfmt.TypeTextPlain, "upshift_step_duration_seconds")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(hist), "\n")[2:] {
		if !strings.Contains(string(got), line) {
			t.Errorf("step durations lack %q:\n%s", line, got)
		}
	}
}

// TestRules checks the alert rules with promtool (syntax, and unit tests
// that fire each alert), and that the PrometheusRule holds the same groups.
func TestRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: run `make deps` (apt-get install prometheus)")
	}
	dir := filepath.Join("..", "..", "deploy", "prometheus")
	for _, args := range [][]string{{"check", "rules", "upshift-rules.yaml"}, {"test", "rules", "upshift-rules.test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	var plain struct {
		Groups []any `json:"groups"`
	}
	var operator struct {
		Kind string `json:"kind"`
		Spec struct {
			Groups []any `json:"groups"`
		} `json:"spec"`
	}
	read(t, filepath.Join(dir, "upshift-rules.yaml"), &plain)
	read(t, filepath.Join(dir, "upshift-prometheusrule.yaml"), &operator)
	if operator.Kind != "PrometheusRule" || len(plain.Groups) == 0 || !reflect.DeepEqual(plain.Groups, operator.Spec.Groups) {
		t.Error("upshift-prometheusrule.yaml does not hold the groups of upshift-rules.yaml: copy them over")
	}
}

func read(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, into); err != nil && !strings.Contains(err.Error(), "unknown field") {
		t.Fatalf("%s: %v", path, err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestDashboardQueriesResolve scrapes the runs' metrics and a gateway
// with traffic into a real Prometheus, and runs every query of the
// Grafana dashboard there: each must be valid and return data, and every
// upshift metric it names must exist in the scrape.
func TestDashboardQueriesResolve(t *testing.T) {
	st := runs(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(&runmetrics.Collector{Runs: st.List})
	runsSrv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer runsSrv.Close()

	var n atomic.Int64
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%5 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer backend.Close()
	cfg := frontdoor.Config{Listen: testfleet.LoopbackAddr(t), AdminListen: testfleet.LoopbackAddr(t), MetricsListen: testfleet.LoopbackAddr(t),
		HealthInterval: frontdoor.Duration{Duration: 200 * time.Millisecond},
		Routes:         []frontdoor.Route{{Host: "aks.example.com", Backends: []frontdoor.Backend{{Name: "shop", URL: backend.URL, Weight: 100}}}}}
	testfleet.RunGateway(t, cfg, "dashboard-test-token-0123456789ab")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			req, _ := http.NewRequest(http.MethodGet, "http://"+cfg.Listen+"/", nil)
			req.Host = "aks.example.com"
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	prom := testfleet.Prometheus(t, strings.TrimPrefix(runsSrv.URL, "http://"), cfg.MetricsListen)

	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "upshift-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	// rate() needs two scrapes of the gateway's counters.
	time.Sleep(3 * time.Second)
	var names []string
	query(t, prom, "/api/v1/label/__name__/values", &names)
	metric := regexp.MustCompile(`upshift_[a-z_]+`)
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			for _, m := range metric.FindAllString(target.Expr, -1) {
				if !slices.Contains(names, m) {
					t.Errorf("panel %q queries %s, which no scrape has", p.Title, m)
				}
			}
			expr := strings.ReplaceAll(target.Expr, "$run", ".*")
			var res struct {
				Result []any `json:"result"`
			}
			query(t, prom, "/api/v1/query?query="+url.QueryEscape(expr), &res)
			if len(res.Result) == 0 {
				t.Errorf("panel %q: %s returns nothing", p.Title, expr)
			}
		}
	}
	if len(dash.Panels) < 10 {
		t.Errorf("the dashboard has %d panels", len(dash.Panels))
	}
}

// query calls Prometheus's HTTP API and decodes its data.
func query(t *testing.T, prom, path string, into any) {
	t.Helper()
	resp, err := http.Get(prom + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.Status != "success" {
		t.Fatalf("%s: %s", path, body.Error)
	}
	if err := json.Unmarshal(body.Data, into); err != nil {
		t.Fatal(fmt.Errorf("%s: %w", path, err))
	}
}
