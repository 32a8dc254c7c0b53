package canary_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/methods/canary"
	"upshift.dev/upshift/internal/providers/cluster/local"
	trafficgateway "upshift.dev/upshift/internal/providers/traffic/gateway"
	"upshift.dev/upshift/internal/sampleapp"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) {
	builtin.Register()
	testfleet.Main(m)
}

const token = "canary-test-token-0123456789abcd"

// pinSecret lets the canary's testers pin themselves to green.
const pinSecret = "canary-pin-secret-0123456789abcd"

var hosts = v1alpha1.HostNames{Public: "shop.example.com", Cluster: "aks.example.com", Blue: "aks-blue.example.com", Green: "aks-green.example.com"}

// canaryEnv is blue running the sample app behind a gateway, with users
// sending requests through the gateway until the test ends.
type canaryEnv struct {
	blue  *localfleet.Cluster
	front string
	admin string
	// metrics is the gateway's read-only metrics listener (host:port).
	metrics string
	dir     string
	// traffic is how the run reaches the front door.
	traffic v1alpha1.TrafficSpec
	// userHost is the name users send requests to (default hosts.Public).
	userHost string
	// onEvent, when set, sees each event as the run makes it.
	onEvent func(engine.Event)
	events  []engine.Event
	mu      sync.Mutex
}

// setup starts blue at the previous version with the app (whose Ingress
// carries annotations, such as faults for the target version only) and a
// gateway whose cluster name sends all of it to blue.
func setup(t *testing.T, name string, annotations map[string]string) *canaryEnv {
	ctx := t.Context()
	// Not testfleet.Up: a promoted canary destroys blue itself.
	f := testfleet.Fleet(t)
	blue, err := f.Up(ctx, localfleet.Spec{Name: name, KubernetesVersion: toolchain.Previous().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Down(name) })
	client, err := blue.Client()
	if err != nil {
		t.Fatal(err)
	}
	app := sampleapp.App{Namespace: "shop", Name: "web", Host: hosts.Public, Replicas: 2, IngressAnnotations: annotations}
	if err := app.Deploy(ctx, client); err != nil {
		t.Fatal(err)
	}
	if err := app.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	e := &canaryEnv{blue: blue, dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(e.dir, "pin-secret"), []byte(pinSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := frontdoor.Config{
		Listen: testfleet.LoopbackAddr(t), AdminListen: testfleet.LoopbackAddr(t), MetricsListen: testfleet.LoopbackAddr(t),
		PinSecretFile:  filepath.Join(e.dir, "pin-secret"),
		HealthInterval: frontdoor.Duration{Duration: 200 * time.Millisecond},
		Routes: []frontdoor.Route{{Host: hosts.Cluster, Aliases: []string{hosts.Public}, UpstreamHost: hosts.Public, Backends: []frontdoor.Backend{
			{Name: name, URL: blue.IngressURL(), Weight: 100},
		}}},
	}
	testfleet.RunGateway(t, cfg, token)
	e.front, e.admin, e.metrics = "http://"+cfg.Listen, "http://"+cfg.AdminListen, cfg.MetricsListen
	if err := os.WriteFile(filepath.Join(e.dir, "token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ingress.WaitServed(ctx, e.front, hosts.Public, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	e.traffic = v1alpha1.TrafficSpec{
		Provider: v1alpha1.TrafficGateway, Hosts: hosts, URL: e.front,
		Gateway: &v1alpha1.GatewayTraffic{AdminURL: e.admin, TokenFile: filepath.Join(e.dir, "token")},
	}
	return e
}

// metricsGate compares green with blue every second.
func metricsGate(gate v1alpha1.MetricsGate) []v1alpha1.GateSpec {
	return []v1alpha1.GateSpec{{Name: "green-vs-blue", Type: v1alpha1.GateMetrics, Interval: &metav1.Duration{Duration: time.Second}, FailureThreshold: 2, Metrics: &gate}}
}

// run initializes a canary run of blue with the steps and analysis.
func (e *canaryEnv) run(t *testing.T, name string, steps []v1alpha1.CanaryStep, analysis []v1alpha1.GateSpec) *engine.Engine {
	t.Helper()
	st := &store.Store{Dir: t.TempDir()}
	fleet := []v1alpha1.Cluster{{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "Cluster"},
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec:       v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: e.blue.Name}},
	}}
	progress := func(ev engine.Event) {
		t.Logf("[%s %s] %s", ev.Cluster, ev.Step, ev.Message)
		e.mu.Lock()
		e.events = append(e.events, ev)
		e.mu.Unlock()
		if e.onEvent != nil {
			e.onEvent(ev)
		}
	}
	eng := &engine.Engine{Store: st, Fleet: fleet, Resolve: local.Resolver(testfleet.Fleet(t)), Progress: progress, Poll: 100 * time.Millisecond}
	strategy := &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "prod", LabelSelector: &metav1.LabelSelector{}}}}
	run := &v1alpha1.UpdateRun{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.UpdateRunSpec{
			Method: v1alpha1.MethodCanary, Strategy: strategy,
			Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: toolchain.Latest().Minor},
			BlueGreen: &v1alpha1.BlueGreenSpec{
				Traffic: e.traffic,
				Sync:    v1alpha1.SyncSpec{Namespaces: []string{"shop"}},
				Freeze:  v1alpha1.FreezeSpec{ServiceAccounts: []string{"shop/deployer"}},
			},
			Canary: &v1alpha1.CanarySpec{Steps: steps, Analysis: analysis},
		},
	}
	if _, err := eng.Initialize(t.Context(), run, strategy); err != nil {
		t.Fatal(err)
	}
	return eng
}

func pause(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func clusterStatus(run *v1alpha1.UpdateRun) v1alpha1.StageClusterStatus {
	return run.Status.Stages[0].Clusters[0]
}

// usersHost is the name users send requests to.
func (e *canaryEnv) usersHost() string {
	if e.userHost != "" {
		return e.userHost
	}
	return hosts.Public
}

// users sends requests through the cluster name, as users would.
func (e *canaryEnv) users(t *testing.T) *loadgen.Stream {
	return loadgen.Start(t.Context(), loadgen.Target{URL: e.front + "/", Host: e.usersHost()}, 4, 10*time.Millisecond)
}

func TestCanaryStepsAndPromote(t *testing.T) {
	e := setup(t, "shop", nil)
	// The second step would hold 60% for two minutes: alice promotes the
	// canary once it has been measured there.
	// First, testers alone reach green, with the gateway's pin header.
	eng := e.run(t, "canary-ok", []v1alpha1.CanaryStep{{Testers: true, Pause: pause(3 * time.Second)}, {Weight: 20, Pause: pause(4 * time.Second)}, {Weight: 60, Pause: pause(2 * time.Minute)}},
		// A fresh green on a busy 2-core machine answers some tens of
		// milliseconds slower at p95 for a while: this test is about steps
		// and promotion, so latency counts only past 100ms (the latency
		// rollback has its own test).
		metricsGate(v1alpha1.MetricsGate{MinRequests: 5, MinLatencyDelta: &metav1.Duration{Duration: 100 * time.Millisecond}}))
	testerServedBy := make(chan string, 1)
	go func() {
		for t.Context().Err() == nil {
			e.mu.Lock()
			open := slices.ContainsFunc(e.events, func(ev engine.Event) bool {
				return strings.HasPrefix(ev.Message, "testers reach green with the header X-Upshift-Backend: shop-g2")
			})
			e.mu.Unlock()
			if open {
				// A pin reaches healthy backends only: right after green
				// joins the route, the gateway may not have checked it yet
				// (503), and a tester tries again, as within the step's pause.
				by := ""
				for try := 0; try < 20 && by == ""; try++ {
					req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.front+"/", nil)
					req.Host = hosts.Public
					req.Header.Set(trafficgateway.PinHeader, "shop-g2")
					req.Header.Set(frontdoor.PinSecretHeader, pinSecret)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					if by = resp.Header.Get("X-Upshift-Cluster"); by == "" && resp.StatusCode != http.StatusServiceUnavailable {
						t.Errorf("a tester's pinned request: %s", resp.Status)
						break
					}
					if by == "" {
						time.Sleep(100 * time.Millisecond)
					}
				}
				testerServedBy <- by
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	go func() {
		for t.Context().Err() == nil {
			run, err := eng.Store.Get("canary-ok")
			if err == nil && run.Status.Stages[0].Clusters[0].Canary != nil && slices.ContainsFunc(run.Status.Stages[0].Clusters[0].Canary.Analysis, func(m v1alpha1.Measurement) bool {
				return m.Step == 3 && m.Phase == v1alpha1.MeasurementSuccessful
			}) {
				if err := eng.Store.Approve("canary-ok", store.Approval{Key: canary.PromoteKey("shop"), By: "alice", OSUser: "alice", Time: time.Now()}); err != nil {
					t.Error(err)
				}
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	users := e.users(t)
	start := time.Now()
	final, err := eng.Drive(t.Context(), "canary-ok")
	took := time.Since(start)
	stats := users.Stop()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, testfleet.StatusOf(final))
	}
	t.Logf("users through the canary: %s; by cluster %v", stats, stats.ByServer)
	if stats.Failed != 0 || stats.Sent < 200 {
		t.Errorf("users: %s (%v); want hundreds of requests and none failed", stats, stats.Errors)
	}
	cs := clusterStatus(final)
	var kinds []string
	for _, s := range cs.Steps {
		kinds = append(kinds, s.Name)
	}
	if want := []string{"T0-Baseline", "T1-DeployGreen", "T2-Sync", "T3-Canary 1", "T3-Canary 2", "T3-Canary 3", "T3-Canary 4", "T4-RetireBlue"}; !slices.Equal(kinds, want) {
		t.Errorf("steps %v, want %v", kinds, want)
	}
	green := cs.BlueGreen.Green
	// Each step set its weight and was analysed with green's own traffic.
	for i, want := range []int{20, 60} {
		step := i + 2
		ms := slices.IndexFunc(cs.Canary.Analysis, func(m v1alpha1.Measurement) bool { return m.Step == step })
		if ms < 0 || cs.Canary.Analysis[ms].Phase != v1alpha1.MeasurementSuccessful {
			t.Errorf("step %d (%d%%): no successful measurement in %+v", step, want, cs.Canary.Analysis)
		}
		e.mu.Lock()
		said := slices.ContainsFunc(e.events, func(ev engine.Event) bool {
			return strings.HasPrefix(ev.Message, fmt.Sprintf("step %d of 4: %d%% of %s on green", step, want, hosts.Cluster))
		})
		e.mu.Unlock()
		if !said {
			t.Errorf("no progress says step %d set %d%%", step, want)
		}
	}
	select {
	case by := <-testerServedBy:
		if by != green {
			t.Errorf("a tester's pinned request was served by %q, want green %s", by, green)
		}
	default:
		t.Error("the testers step never said how testers reach green")
	}
	if slices.ContainsFunc(cs.Canary.Analysis, func(m v1alpha1.Measurement) bool { return m.Step == 1 }) {
		t.Errorf("the testers step compared green with blue: %+v", cs.Canary.Analysis)
	}
	if r, err := trafficgateway.New(e.admin, token).Route(t.Context(), hosts.Cluster); err != nil || r.AllowPin {
		t.Errorf("pinning still allowed on %s once green took all the traffic: %v", hosts.Cluster, err)
	}
	if stats.ByServer[green] == 0 || stats.ByServer[e.blue.Name] == 0 {
		t.Errorf("users were served by %v: want both blue and green", stats.ByServer)
	}
	if cs.Canary.Weight != 100 || final.Status.Phase != v1alpha1.PhaseCompleted {
		t.Errorf("run %s with green at %d%%", final.Status.Phase, cs.Canary.Weight)
	}
	if cs.Canary.Promoted == nil || !strings.Contains(cs.Steps[5].Message, "promoted by alice") || !strings.Contains(cs.Steps[6].Message, "promoted by alice") || took > 100*time.Second {
		t.Errorf("promotion: at %v; step 3 says %q, step 4 %q; the run took %s", cs.Canary.Promoted, cs.Steps[5].Message, cs.Steps[6].Message, took)
	}
	w, err := trafficgateway.New(e.admin, token).Weights(t.Context(), hosts.Cluster)
	if err != nil || w[green] != 100 || len(w) != 1 {
		t.Errorf("weights after the canary: %v %v; want green alone", w, err)
	}
	if _, err := testfleet.Fleet(t).Get(e.blue.Name); err == nil {
		t.Errorf("blue %s still exists after T4", e.blue.Name)
	}
	t.Cleanup(func() { _ = testfleet.Fleet(t).Down(green) })
}

func TestCanaryRollsBackOnErrors(t *testing.T) {
	// The app fails 30% of its answers on the new version only.
	e := setup(t, "shop2", map[string]string{ingress.FaultErrorPercent: "30", ingress.FaultKubernetesVersion: "v" + toolchain.Latest().Minor + "."})
	eng := e.run(t, "canary-bad", []v1alpha1.CanaryStep{{Weight: 25, Pause: pause(30 * time.Second)}}, metricsGate(v1alpha1.MetricsGate{MinRequests: 5}))
	users := e.users(t)
	start := time.Now()
	final, err := eng.Drive(t.Context(), "canary-bad")
	took := time.Since(start)
	stats := users.Stop()
	t.Logf("users: %s; by cluster %v", stats, stats.ByServer)
	if !errors.Is(err, engine.ErrRolledBack) {
		t.Fatalf("run: %v, want rolled back\n%s", err, testfleet.StatusOf(final))
	}
	cs := clusterStatus(final)
	green := cs.BlueGreen.Green
	t.Cleanup(func() { _ = testfleet.Fleet(t).Down(green) })
	step := slices.IndexFunc(cs.Steps, func(s v1alpha1.StepStatus) bool { return s.Kind == canary.StepTraffic })
	held := cs.Steps[step].End.Sub(cs.Steps[step].Start.Time)
	if held > 20*time.Second {
		t.Errorf("the failing step was held %s (whole run %s): the analysis should end it within seconds, not at the end of its 30 s pause", held, took)
	}
	failed := slices.IndexFunc(cs.Canary.Analysis, func(m v1alpha1.Measurement) bool { return m.Phase == v1alpha1.MeasurementFailed })
	if failed < 0 || !strings.Contains(cs.Canary.Analysis[failed].Message, "green's error ratio") {
		t.Errorf("the measured values that failed are not recorded: %+v", cs.Canary.Analysis)
	}
	if final.Status.Phase != v1alpha1.PhaseRolledBack || cs.BlueGreen.RolledBack == nil || cs.BlueGreen.FreezeLifted == nil || cs.Canary.Weight != 0 || cs.Canary.RolledBack == nil {
		t.Errorf("run %s, rolled back %v, freeze lifted %v, weight %d", final.Status.Phase, cs.BlueGreen.RolledBack, cs.BlueGreen.FreezeLifted, cs.Canary.Weight)
	}
	w, err := trafficgateway.New(e.admin, token).Weights(t.Context(), hosts.Cluster)
	if err != nil || w[e.blue.Name] != 100 || w[green] != 0 {
		t.Errorf("weights after the rollback: %v %v; want all on blue", w, err)
	}
	if _, err := testfleet.Fleet(t).Get(green); err != nil {
		t.Errorf("green %s was not kept for inspection: %v", green, err)
	}
	// Users saw errors only from green, and only its share while it had one.
	if share := float64(stats.Failed) / float64(stats.Sent); share > 0.25*0.30+0.02 {
		t.Errorf("users saw %.1f%% errors: more than green's share of its failures", share*100)
	}
}

// TestCanaryRollsBackOnLatency: green answers 100 ms slower on the new
// version; a Prometheus gate on the gateway's latency histogram, scraped
// by a real Prometheus every second, catches it at the first step.
func TestCanaryRollsBackOnLatency(t *testing.T) {
	e := setup(t, "slow", map[string]string{ingress.FaultDelay: "100ms", ingress.FaultKubernetesVersion: "v" + toolchain.Latest().Minor + "."})
	prom := testfleet.Prometheus(t, e.metrics)
	p95 := v1alpha1.GateSpec{Name: "green-p95", Type: v1alpha1.GatePrometheus, Interval: &metav1.Duration{Duration: time.Second}, Prometheus: &v1alpha1.PrometheusGate{
		Address:          prom,
		Query:            fmt.Sprintf(`histogram_quantile(0.95, sum by (le) (rate(upshift_gateway_request_duration_seconds_bucket{host=%q, backend="{{green}}"}[5s])))`, hosts.Cluster),
		SuccessCondition: "result < 0.05", Count: 30, FailureLimit: 1, InconclusiveLimit: 10,
	}}
	eng := e.run(t, "canary-slow", []v1alpha1.CanaryStep{{Weight: 30, Pause: pause(40 * time.Second)}}, []v1alpha1.GateSpec{p95})
	users := e.users(t)
	final, err := eng.Drive(t.Context(), "canary-slow")
	stats := users.Stop()
	t.Logf("users: %s; by cluster %v", stats, stats.ByServer)
	if !errors.Is(err, engine.ErrRolledBack) {
		t.Fatalf("run: %v, want rolled back\n%s", err, testfleet.StatusOf(final))
	}
	cs := clusterStatus(final)
	t.Cleanup(func() { _ = testfleet.Fleet(t).Down(cs.BlueGreen.Green) })
	if !strings.Contains(cs.BlueGreen.RollbackReason, "gate green-p95 (Prometheus)") || !strings.Contains(cs.BlueGreen.RollbackReason, "does not meet result < 0.05") {
		t.Errorf("rollback reason %q does not give the measured latency", cs.BlueGreen.RollbackReason)
	}
	step := slices.IndexFunc(cs.Steps, func(s v1alpha1.StepStatus) bool { return s.Kind == canary.StepTraffic })
	if held := cs.Steps[step].End.Sub(cs.Steps[step].Start.Time); held > 30*time.Second {
		t.Errorf("the slow step was held %s of its 40 s pause", held)
	}
	w, err := trafficgateway.New(e.admin, token).Weights(t.Context(), hosts.Cluster)
	if err != nil || w[e.blue.Name] != 100 {
		t.Errorf("weights after the rollback: %v %v; want all on blue", w, err)
	}
	if stats.Failed != 0 {
		t.Errorf("a slow green failed %d user requests: %v", stats.Failed, stats.Errors)
	}
}

// TestKilledMidStepResumesAtItsWeight kills `upshift canary` while its
// second step holds 70%, checks the traffic stayed there, rolls it back
// with `upshift rollback`, resumes (the canary starts over and holds 70%
// again, never more) and promotes through the CLI.
func TestKilledMidStepResumesAtItsWeight(t *testing.T) {
	ctx := t.Context()
	e := setup(t, "kc", nil)
	file := filepath.Join(e.dir, "canary.yaml")
	spec := fmt.Sprintf(`traffic:
  provider: gateway
  url: %s
  hosts: {public: %s, cluster: %s, blue: %s, green: %s}
  gateway: {adminURL: %s, tokenFile: %s}
sync: {namespaces: [shop]}
steps:
- {weight: 30, pause: 2s}
- {weight: 70, pause: 10m}
analysis:
- {name: green-vs-blue, type: Metrics, interval: 1s, metrics: {minRequests: 5}}
`, e.front, hosts.Public, hosts.Cluster, hosts.Blue, hosts.Green, e.admin, filepath.Join(e.dir, "token"))
	if err := os.WriteFile(file, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	users := e.users(t)
	defer users.Stop()
	gw := trafficgateway.New(e.admin, token)
	at70 := func() bool {
		w, err := gw.Weights(ctx, hosts.Cluster)
		return err == nil && w["kc-g2"] == 70
	}
	testfleet.KillWhen(t, 5*time.Minute, at70, "canary", "kc", "--to", toolchain.Latest().Minor, "-f", file, "--name", "canary-crash")
	if w, err := gw.Weights(ctx, hosts.Cluster); err != nil || w["kc"] != 30 || w["kc-g2"] != 70 {
		t.Fatalf("after the kill in step 2 the weights should stay where it put them: %v %v", w, err)
	}
	st := &store.Store{Dir: testfleet.Fleet(t).Home}
	// No driver runs: `upshift rollback` puts all traffic back on blue
	// itself, and the resume below starts the canary over.
	if msg, err := testfleet.CLI("rollback", "canary-crash").CombinedOutput(); err != nil {
		t.Fatalf("rollback: %v\n%s", err, msg)
	}
	if w, err := gw.Weights(ctx, hosts.Cluster); err != nil || w["kc"] != 100 || w["kc-g2"] != 0 {
		t.Fatalf("after upshift rollback: %v %v; want all on blue", w, err)
	}
	if run, err := st.Get("canary-crash"); err != nil || run.Status.Phase != v1alpha1.PhaseRolledBack || run.Status.Stages[0].Clusters[0].Canary.Weight != 0 {
		t.Fatalf("run after upshift rollback: %v %v", testfleet.StatusOf(run), err)
	}
	metricsAddr := testfleet.LoopbackAddr(t)
	resume := testfleet.CLI("resume", "canary-crash", "--metrics-listen", metricsAddr)
	var out testfleet.SyncBuffer
	resume.Stdout, resume.Stderr = &out, &out
	if err := resume.Start(); err != nil {
		t.Fatal(err)
	}
	held := false
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline) && !held; time.Sleep(200 * time.Millisecond) {
		w, _ := gw.Weights(ctx, hosts.Cluster)
		if w["kc-g2"] > 70 {
			t.Fatalf("the resumed run jumped ahead of step 2: %v", w)
		}
		held = strings.Contains(out.String(), "step 2 of 3: 70%")
	}
	if !held {
		t.Fatalf("the resumed run does not hold step 2 again:\n%s", out.String())
	}
	// The resumed driver's metrics show where the traffic is.
	m := testfleet.Scrape(t, "http://"+metricsAddr+"/metrics", "")
	if g, b := m.Sum("upshift_traffic_weight_percent", map[string]string{"run": "canary-crash", "side": "green"}), m.Sum("upshift_traffic_weight_percent", map[string]string{"run": "canary-crash", "side": "blue"}); g != 70 || b != 30 {
		t.Errorf("metrics say green %v%%, blue %v%%; want 70 and 30", g, b)
	}
	if m.Sum("upshift_run_phase", map[string]string{"run": "canary-crash", "phase": "Running"}) != 1 {
		t.Errorf("metrics do not say the run is Running: %v", m["upshift_run_phase"])
	}
	if msg, err := testfleet.CLI("promote", "canary-crash", "--by", "bob").CombinedOutput(); err != nil {
		t.Fatalf("promote: %v\n%s", err, msg)
	}
	if err := resume.Wait(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out.String())
	}
	run, err := st.Get("canary-crash")
	if err != nil || run.Status.Phase != v1alpha1.PhaseCompleted || run.Status.Stages[0].Clusters[0].Canary.Promoted == nil {
		t.Fatalf("run after the promotion: %v %v\n%s", testfleet.StatusOf(run), err, out.String())
	}
	if w, err := gw.Weights(ctx, hosts.Cluster); err != nil || w["kc-g2"] != 100 || len(w) != 1 {
		t.Errorf("weights after the promotion: %v %v", w, err)
	}
	t.Cleanup(func() { _ = testfleet.Fleet(t).Down("kc-g2") })
	// The promotion is in the audit log, with who gave it.
	events, err := st.Events("canary-crash")
	if err != nil || !slices.ContainsFunc(events, func(ev store.Event) bool { return ev.Type == "Promoted" && strings.Contains(ev.Message, "by bob") }) {
		t.Errorf("no Promoted audit event by bob: %v %v", events, err)
	}
	if msg, err := testfleet.CLI("promote", "canary-crash").CombinedOutput(); err == nil || !strings.Contains(string(msg), "nothing to promote") {
		t.Errorf("promoting a finished canary: %v %s", err, msg)
	}
}

// TestCanaryParksItsWaits: where the engine parks (a hub), a canary step
// that only holds (no analysis) ends its drive for its pause, and its
// approval too: the run is Waiting, green keeps its 25%, users see
// nothing. Driven again before the pause is over it parks again and moves
// nothing; after it, the step waits for its approval, then goes on to
// 100% and retires blue.
func TestCanaryParksItsWaits(t *testing.T) {
	ctx := t.Context()
	e := setup(t, "cp", nil)
	hold := 8 * time.Second
	eng := e.run(t, "canary-park", []v1alpha1.CanaryStep{{Weight: 25, Pause: pause(hold), Approval: true}}, nil)
	eng.Park = 2 * time.Second
	users := e.users(t)
	defer users.Stop()
	gw := trafficgateway.New(e.admin, token)
	parks := func(what string, wantUntil bool) (*v1alpha1.UpdateRun, *engine.ParkedError) {
		t.Helper()
		got, err := eng.Drive(ctx, "canary-park")
		var parked *engine.ParkedError
		if !errors.As(err, &parked) || parked.Until.IsZero() == wantUntil || got.Status.Phase != v1alpha1.PhaseWaiting {
			t.Fatalf("%s: %v\n%s", what, err, testfleet.StatusOf(got))
		}
		if w, err := gw.Weights(ctx, hosts.Cluster); err != nil || w["cp"] != 75 || w["cp-g2"] != 25 {
			t.Fatalf("%s: weights %v %v, want 75/25", what, w, err)
		}
		return got, parked
	}
	got, first := parks("the pause", true)
	step := clusterStatus(got).Steps[3]
	if step.Phase != v1alpha1.PhaseWaiting || !strings.Contains(step.Message, "canary step 1 of shop holds until") {
		t.Fatalf("the canary step while parked: %s %q", step.Phase, step.Message)
	}
	if left := time.Until(first.Until); left <= 0 || left > hold {
		t.Errorf("parked until %v: want the end of the %s pause", first.Until, hold)
	}
	if _, again := parks("driven again before the pause is over", true); !again.Until.Equal(first.Until) {
		t.Errorf("driven again, parked until %v, want %v: the pause counts from the step's start", again.Until, first.Until)
	}
	time.Sleep(time.Until(first.Until))
	got, _ = parks("the approval", false)
	if msg := clusterStatus(got).Steps[3].Message; !strings.Contains(msg, "upshift approve canary-park --cluster shop --gate canary-step-1") {
		t.Fatalf("the parked approval says %q", msg)
	}
	if err := eng.Store.Approve("canary-park", store.Approval{Key: store.ClusterGateKey("shop", canary.ApprovalGate(1)), By: "alice", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	final, err := eng.Drive(ctx, "canary-park")
	if err != nil || final.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("after the approval: %v\n%s", err, testfleet.StatusOf(final))
	}
	t.Cleanup(func() { _ = testfleet.Fleet(t).Down("cp-g2") })
	stats := users.Stop()
	t.Logf("users through a canary parked twice: %s; by cluster %v", stats, stats.ByServer)
	if stats.Failed != 0 || stats.ByServer["cp-g2"] == 0 {
		t.Errorf("users: %s (%v), by cluster %v: want none failed and some served by green", stats, stats.Errors, stats.ByServer)
	}
	if w, err := gw.Weights(ctx, hosts.Cluster); err != nil || w["cp-g2"] != 100 || len(w) != 1 {
		t.Errorf("weights after the canary: %v %v; want green alone", w, err)
	}
}
