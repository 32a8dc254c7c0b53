package bluegreen_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/freeze"
	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/methods/bluegreen"
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

const token = "bluegreen-test-token-0123456789"

var hosts = v1alpha1.HostNames{Public: "shop.example.com", Cluster: "aks.example.com", Blue: "aks-blue.example.com", Green: "aks-green.example.com"}

func TestGreenName(t *testing.T) {
	for blue, want := range map[string]string{"shop": "shop-g2", "shop-g2": "shop-g3", "shop-g9": "shop-g10", "a-g": "a-g-g2"} {
		if got := bluegreen.GreenName(blue); got != want {
			t.Errorf("GreenName(%q) = %q, want %q", blue, got, want)
		}
	}
}

// env is a blue cluster with the sample app behind a running gateway.
type env struct {
	blue     *localfleet.Cluster
	gw       frontdoor.Config
	front    string
	admin    string
	dir      string
	stopGW   func()
	provider *trafficgateway.Provider
}

// upBlue starts a cluster at the lower version running the app for the
// public name, with a deployer service account and another one.
func upBlue(t *testing.T, name, public string) *localfleet.Cluster {
	ctx := t.Context()
	blue, err := testfleet.Fleet(t).Up(ctx, localfleet.Spec{Name: name, KubernetesVersion: toolchain.Previous().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	client, err := blue.Client()
	if err != nil {
		t.Fatal(err)
	}
	app := sampleapp.App{Namespace: "shop", Name: "web", Host: public, Replicas: 2, MinAvailable: 1}
	if err := app.Deploy(ctx, client); err != nil {
		t.Fatal(err)
	}
	if err := app.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, sa := range []string{"deployer", "other"} {
		if _, err := client.CoreV1().ServiceAccounts("shop").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ingress.WaitServed(ctx, blue.IngressURL(), public, 2, time.Minute); err != nil {
		t.Fatal(err)
	}
	return blue
}

// startGateway runs a gateway with the routes until the test ends.
func startGateway(t *testing.T, routes []frontdoor.Route) *env {
	e := &env{dir: t.TempDir()}
	e.gw = frontdoor.Config{
		Listen: testfleet.LoopbackAddr(t), AdminListen: testfleet.LoopbackAddr(t),
		HealthInterval: frontdoor.Duration{Duration: 200 * time.Millisecond},
		Routes:         routes,
	}
	gw, err := frontdoor.New(e.gw, token)
	if err != nil {
		t.Fatal(err)
	}
	gwCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(gwCtx) }()
	var once sync.Once
	e.stopGW = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(e.stopGW)
	e.front, e.admin = "http://"+e.gw.Listen, "http://"+e.gw.AdminListen
	if err := os.WriteFile(filepath.Join(e.dir, "token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.provider = trafficgateway.New(e.admin, token)
	return e
}

// setup starts blue with the app behind a gateway whose cluster name
// (with the public name as alias) sends everything to blue, as a user's
// front door would.
func setup(t *testing.T, name string) *env {
	blue := upBlue(t, name, hosts.Public)
	e := startGateway(t, []frontdoor.Route{{Host: hosts.Cluster, Aliases: []string{hosts.Public}, UpstreamHost: hosts.Public, Backends: []frontdoor.Backend{
		{Name: name, URL: blue.IngressURL(), Weight: 100},
	}}})
	e.blue = blue
	if _, err := ingress.WaitServed(t.Context(), e.front, hosts.Public, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) spec() *v1alpha1.BlueGreenSpec {
	return &v1alpha1.BlueGreenSpec{
		Traffic: v1alpha1.TrafficSpec{
			Provider: v1alpha1.TrafficGateway, Hosts: hosts, URL: e.front,
			Gateway: &v1alpha1.GatewayTraffic{AdminURL: e.admin, TokenFile: filepath.Join(e.dir, "token")},
		},
		Sync:   v1alpha1.SyncSpec{Namespaces: []string{"shop"}},
		Freeze: v1alpha1.FreezeSpec{ServiceAccounts: []string{"shop/deployer"}},
		Validation: v1alpha1.BlueGreenValidation{
			Gates:          []v1alpha1.GateSpec{{Name: "green-serves", Type: v1alpha1.GateHTTP, HTTP: &v1alpha1.HTTPGate{URL: "/", BodyContains: toolchain.Latest().Minor}}},
			LoadComparison: &v1alpha1.LoadComparison{Requests: 100, Concurrency: 2, MinLatencyDelta: &metav1.Duration{Duration: 50 * time.Millisecond}},
		},
		PostSwitch: v1alpha1.PostSwitchSpec{Window: &metav1.Duration{Duration: 4 * time.Second}},
	}
}

// writeSpec writes blue-green settings for the CLI.
func (e *env) writeSpec(t *testing.T, spec *v1alpha1.BlueGreenSpec) string {
	t.Helper()
	data, err := yaml.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(e.dir, "bluegreen.yaml")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// newRun initializes a blue-green run of the env's blue cluster.
func (e *env) newRun(t *testing.T, name string, bg *v1alpha1.BlueGreenSpec, progress func(engine.Event)) (*engine.Engine, *store.Store) {
	t.Helper()
	f := testfleet.Fleet(t)
	st := &store.Store{Dir: t.TempDir()}
	fleet := []v1alpha1.Cluster{{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "Cluster"},
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec:       v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: e.blue.Name}},
	}}
	eng := &engine.Engine{Store: st, Fleet: fleet, Resolve: local.Resolver(f), Progress: progress, Poll: 100 * time.Millisecond}
	strategy := &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "prod", LabelSelector: &metav1.LabelSelector{}}}}
	run := &v1alpha1.UpdateRun{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.UpdateRunSpec{Method: v1alpha1.MethodBlueGreen, BlueGreen: bg, Strategy: strategy,
			Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: toolchain.Latest().Minor}},
	}
	if _, err := eng.Initialize(t.Context(), run, strategy); err != nil {
		t.Fatal(err)
	}
	return eng, st
}

func ingressCount(t *testing.T, base string) float64 {
	return testfleet.Scrape(t, base+"/metrics", "").Sum("upshift_ingress_requests_total", map[string]string{"host": hosts.Public})
}

// gatewayCount is what the gateway sent a backend: answered requests and
// health checks, over all routes. Requests whose client gave up (499, as
// the load stops) and health checks that got no answer may or may not
// have reached the backend: they count in the upper bound only.
func (e *env) gatewayCount(t *testing.T, backend string) (sure, upTo float64) {
	m := testfleet.Scrape(t, e.admin+"/metrics", token)
	all := m.Sum("upshift_gateway_requests_total", map[string]string{"backend": backend}) + m.Sum("upshift_gateway_health_checks_total", map[string]string{"backend": backend})
	unsure := m.Sum("upshift_gateway_requests_total", map[string]string{"backend": backend, "code": "499"}) +
		m.Sum("upshift_gateway_health_checks_total", map[string]string{"backend": backend, "result": "failed"})
	return all - unsure, all
}

// settle lets the gateway count what a backend has already answered: it
// counts a request or a health check once the answer is back, a moment
// after the backend counted it.
func settle() { time.Sleep(100 * time.Millisecond) }

func asDeployer(cfg *rest.Config, sa string) kubernetes.Interface {
	c := rest.CopyConfig(cfg)
	// system:masters keeps RBAC out of the way: only the freeze can deny.
	c.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:shop:" + sa, Groups: []string{"system:masters"}}
	return kubernetes.NewForConfigOrDie(c)
}

func writeConfigMap(ctx context.Context, client kubernetes.Interface, name string) error {
	_, err := client.CoreV1().ConfigMaps("shop").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
	return err
}

// TestBlueGreenUnderLoad moves a cluster from the previous minor to the latest through T0–T4
// while clients keep using the public name: no request fails, the freeze
// holds blue's deployer during T2 and only it, and what the gateway sent
// each cluster is what each cluster's ingress counted.
func TestBlueGreenUnderLoad(t *testing.T) {
	ctx := t.Context()
	e := setup(t, "shop")
	// What blue's ingress counts from here on, against what the gateway
	// sends it: each read of the ingress is bracketed by the gateway's
	// sure count before it and its whole count a moment after (a health
	// check can land between the reads).
	beforeSure, _ := e.gatewayCount(t, "shop")
	blueBase := ingressCount(t, e.blue.IngressURL())
	settle()
	_, beforeAll := e.gatewayCount(t, "shop")
	cfg, err := e.blue.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}

	var freezeChecked, blueBracketed bool
	var blueLow, blueIngress, blueHigh float64
	var said strings.Builder // every progress line, checked for the token below
	progress := func(ev engine.Event) {
		t.Logf("[%s %s] %s", ev.Cluster, ev.Step, ev.Message)
		said.WriteString(ev.Message + "\n")
		switch {
		case ev.Step == bluegreen.StepSync && ev.Type == "Progress" && strings.Contains(ev.Message, "deployers frozen"):
			// T2 is under way: the deployer is denied, naming the run;
			// another identity is not.
			err := writeConfigMap(ctx, asDeployer(cfg, "deployer"), "during-freeze")
			if err == nil || !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "bg-load") {
				t.Errorf("deployer write during T2: %v; want a denial naming run bg-load", err)
			}
			if err := writeConfigMap(ctx, asDeployer(cfg, "other"), "other-during-freeze"); err != nil {
				t.Errorf("another identity was frozen too: %v", err)
			}
			freezeChecked = true
		case strings.Contains(ev.Message, "soaks, ready for rollback"):
			// T4 begins: blue has no weight, only health checks reach it.
			sure, _ := e.gatewayCount(t, "shop")
			blueIngress = ingressCount(t, e.blue.IngressURL()) - blueBase
			settle()
			_, all := e.gatewayCount(t, "shop")
			blueLow, blueHigh = sure-beforeAll, all-beforeSure
			blueBracketed = true
		}
	}
	spec := e.spec()
	spec.BlueSoak = &metav1.Duration{Duration: 2 * time.Second}
	eng, st := e.newRun(t, "bg-load", spec, progress)

	load := loadgen.Start(ctx, loadgen.Target{URL: e.front + "/", Host: hosts.Public}, 6, 5*time.Millisecond)
	run, err := eng.Drive(ctx, "bg-load")
	stats := load.Stop()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, testfleet.StatusOf(run))
	}
	t.Logf("load through the switch: %s; by cluster %v", stats, stats.ByServer)
	// The gateway's admin token reached the run through its file only:
	// it is in no progress line, status, audit line or stored file.
	if strings.Contains(said.String(), token) {
		t.Error("the admin token appeared in progress")
	}
	_ = filepath.WalkDir(st.Dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if data, _ := os.ReadFile(path); strings.Contains(string(data), token) {
				t.Errorf("the admin token is stored in %s", path)
			}
		}
		return nil
	})
	if stats.Sent < 500 || stats.Failed != 0 {
		t.Fatalf("load: %s; errors %v; want hundreds of requests and none failed", stats, stats.Errors)
	}
	if stats.ByServer["shop"] == 0 || stats.ByServer["shop-g2"] == 0 {
		t.Fatalf("requests by cluster %v: both blue and green should have served", stats.ByServer)
	}
	bg := run.Status.Stages[0].Clusters[0].BlueGreen
	if bg.Green != "shop-g2" || bg.SwitchDuration == nil || bg.BlueDeleted == nil || len(bg.Drift) != 0 || !strings.Contains(bg.LoadComparison, "no regression") {
		t.Fatalf("blue-green status: %+v", bg)
	}
	if !freezeChecked || bg.FreezeApplied == nil || bg.FreezeLifted == nil {
		t.Fatalf("freeze not exercised during T2 (checked %v, status %+v)", freezeChecked, bg)
	}
	if !blueBracketed || blueIngress < blueLow || blueIngress > blueHigh {
		t.Fatalf("blue's ingress counted %.0f, the gateway sent it between %.0f and %.0f", blueIngress, blueLow, blueHigh)
	}
	// Blue is gone, and out of every route; green holds the names.
	if _, err := testfleet.Fleet(t).Get("shop"); err == nil {
		t.Fatal("blue still exists after T4")
	}
	r, err := e.provider.Route(ctx, hosts.Cluster)
	if err != nil || len(r.Backends) != 1 || r.Backends[0].Name != "shop-g2" || r.Backends[0].Weight != 100 {
		t.Fatalf("route %s after T4: %+v, %v", hosts.Cluster, r, err)
	}
	if r, err := e.provider.Route(ctx, hosts.Blue); err != nil || r.Backends[0].Name != "shop-g2" {
		t.Fatalf("route %s after T4: %+v, %v", hosts.Blue, r, err)
	}
	// Green's ingress counted exactly what the gateway sent it.
	green, err := testfleet.Fleet(t).Get("shop-g2")
	if err != nil {
		t.Fatal(err)
	}
	// Only health checks still reach green: bracket the ingress's count.
	low, _ := e.gatewayCount(t, "shop-g2")
	got := ingressCount(t, green.IngressURL())
	settle()
	_, high := e.gatewayCount(t, "shop-g2")
	t.Logf("green: the gateway sent %.0f to %.0f (the rest abandoned by their clients), the ingress counted %.0f; blue: %.0f to %.0f, counted %.0f", low, high, got, blueLow, blueHigh, blueIngress)
	if got < low || got > high {
		t.Fatalf("green's ingress counted %.0f, the gateway sent it between %.0f and %.0f", got, low, high)
	}
	gc, _ := green.Client()
	web := sampleapp.App{Namespace: "shop", Name: "web"}
	if n, err := web.ReadyPods(ctx, gc); err != nil || n != 2 {
		t.Fatalf("green runs %d ready pods (%v), want 2", n, err)
	}
}

// TestRollback: a process killed mid-switch is rolled back by `upshift
// rollback`; a failing post-switch gate rolls back on its own. Each time
// traffic is on blue, the freeze is gone, and green stays for inspection.
func TestRollback(t *testing.T) {
	ctx := t.Context()
	e := setup(t, "rb")
	f := testfleet.Fleet(t)
	cfg, err := e.blue.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	blueClient := kubernetes.NewForConfigOrDie(cfg)
	checkOnBlue := func(when string) {
		t.Helper()
		w, err := e.provider.Weights(ctx, hosts.Cluster)
		if err != nil || w["rb"] != 100 || w["rb-g2"] != 0 {
			t.Fatalf("%s: weights %v (%v), want all on blue rb", when, w, err)
		}
		if active, err := freeze.Active(ctx, blueClient); err != nil || len(active) != 0 {
			t.Fatalf("%s: freezes left on blue: %v (%v)", when, active, err)
		}
		if err := writeConfigMap(ctx, asDeployer(cfg, "deployer"), "after-"+strings.ReplaceAll(when, " ", "-")); err != nil {
			t.Fatalf("%s: the deployer still cannot write: %v", when, err)
		}
		if _, err := f.Get("rb-g2"); err != nil {
			t.Fatalf("%s: green is gone: %v", when, err)
		}
	}

	// 1. Killed mid-switch (in the post-switch window), then rolled back.
	spec := e.spec()
	spec.PostSwitch.Window = &metav1.Duration{Duration: 5 * time.Minute}
	file := e.writeSpec(t, spec)
	cmd := testfleet.CLI("bluegreen", "rb", "--to", toolchain.Latest().Minor, "-f", file, "--name", "bg-kill")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	runs := &store.Store{Dir: f.Home}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		select {
		case err := <-exited:
			t.Fatalf("upshift bluegreen ended (%v) before the switch:\n%s", err, out.String())
		default:
		}
		run, err := runs.Get("bg-kill")
		if err == nil && len(run.Status.Stages) > 0 {
			if bg := run.Status.Stages[0].Clusters[0].BlueGreen; bg != nil && bg.Switched != nil {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the switch did not happen in 5 minutes:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if w, err := e.provider.Weights(ctx, hosts.Cluster); err != nil || w["rb-g2"] != 100 {
		t.Fatalf("after the switch: weights %v (%v)", w, err)
	}
	_ = cmd.Process.Kill()
	<-exited
	rb := testfleet.CLI("rollback", "bg-kill")
	if got, err := rb.CombinedOutput(); err != nil {
		t.Fatalf("upshift rollback: %v\n%s", err, got)
	}
	checkOnBlue("after upshift rollback")
	run, err := runs.Get("bg-kill")
	if err != nil || run.Status.Phase != v1alpha1.PhaseRolledBack {
		t.Fatalf("run bg-kill: %v %v", run.Status.Phase, err)
	}
	// The record tells the truth: the sync succeeded and was undone, the
	// switch was interrupted by the rollback, the retirement never began,
	// and the cluster carries the rollback's reason.
	cs := run.Status.Stages[0].Clusters[0]
	phases := map[string]v1alpha1.StepStatus{}
	for _, st := range cs.Steps {
		phases[st.Name] = st
	}
	if st := phases[bluegreen.StepSync]; st.Phase != v1alpha1.PhaseRolledBack || !strings.Contains(st.Message, "undone by the rollback") || strings.HasPrefix(st.Message, "undone") {
		t.Errorf("T2 after the rollback: %s %q, want RolledBack keeping its result", st.Phase, st.Message)
	}
	if st := phases[bluegreen.StepSwitch]; st.Phase != v1alpha1.PhaseRolledBack || st.Message != "interrupted by the rollback" {
		t.Errorf("T3 after the rollback: %s %q, want RolledBack, interrupted", st.Phase, st.Message)
	}
	if st := phases[bluegreen.StepRetireBlue]; st.Phase != v1alpha1.PhaseNotStarted {
		t.Errorf("T4 after the rollback: %s %q, want NotStarted", st.Phase, st.Message)
	}
	if cs.Phase != v1alpha1.PhaseRolledBack || cs.Message == "" {
		t.Errorf("cluster after the rollback: %s %q, want RolledBack with its reason", cs.Phase, cs.Message)
	}

	// 2. `upshift rollback` while the driver is live, in the window: the
	// driver rolls back and exits 11; the rollback command waits for it.
	driver := testfleet.CLI("resume", "bg-kill")
	var driverOut strings.Builder
	driver.Stdout, driver.Stderr = &driverOut, &driverOut
	if err := driver.Start(); err != nil {
		t.Fatal(err)
	}
	driverDone := make(chan error, 1)
	go func() { driverDone <- driver.Wait() }()
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if w, err := e.provider.Weights(ctx, hosts.Cluster); err == nil && w["rb-g2"] == 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the resumed run did not switch again:\n%s", driverOut.String())
		}
	}
	if got, err := testfleet.CLI("rollback", "bg-kill").CombinedOutput(); err != nil {
		t.Fatalf("upshift rollback with a live driver: %v\n%s", err, got)
	}
	select {
	case err := <-driverDone:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 11 {
			t.Fatalf("the driver ended with %v, want exit code 11 (rolled back):\n%s", err, driverOut.String())
		}
	case <-time.After(time.Minute):
		_ = driver.Process.Kill()
		t.Fatalf("the driver did not end after the rollback:\n%s", driverOut.String())
	}
	checkOnBlue("after upshift rollback of a live run")

	// 3. A post-switch gate fails: traffic goes back to blue by itself,
	// while users keep sending requests.
	spec = e.spec()
	spec.Validation.LoadComparison = nil
	spec.PostSwitch.Gates = []v1alpha1.GateSpec{{Name: "never-passes", Type: v1alpha1.GateHTTP, FailureThreshold: 3, // about 0.5 s on green, so users reach it before the rollback
		Interval: &metav1.Duration{Duration: 200 * time.Millisecond}, Timeout: &metav1.Duration{Duration: 2 * time.Second},
		HTTP: &v1alpha1.HTTPGate{URL: "/", BodyContains: "not-in-any-answer"}}}
	eng, _ := e.newRun(t, "bg-gate", spec, func(ev engine.Event) { t.Logf("[%s %s] %s", ev.Cluster, ev.Step, ev.Message) })
	load := loadgen.Start(ctx, loadgen.Target{URL: e.front + "/", Host: hosts.Public}, 4, 5*time.Millisecond)
	run, err = eng.Drive(ctx, "bg-gate")
	stats := load.Stop()
	if !errors.Is(err, engine.ErrRolledBack) {
		t.Fatalf("run: %v, want a rollback\n%s", err, testfleet.StatusOf(run))
	}
	if run.Status.Phase != v1alpha1.PhaseRolledBack || run.Status.Stages[0].Clusters[0].Phase != v1alpha1.PhaseRolledBack {
		t.Fatalf("phases: run %s, cluster %s", run.Status.Phase, run.Status.Stages[0].Clusters[0].Phase)
	}
	bg := run.Status.Stages[0].Clusters[0].BlueGreen
	if bg.RolledBack == nil || !strings.Contains(bg.RollbackReason, "never-passes") {
		t.Fatalf("rollback not recorded: %+v", bg)
	}
	if stats.Failed != 0 || stats.ByServer["rb-g2"] == 0 {
		t.Fatalf("load through switch and rollback: %s by %v; want none failed and some served by green", stats, stats.ByServer)
	}
	checkOnBlue("after the automatic rollback")
}

// startUntil runs the CLI and kills it (SIGKILL) as soon as its output
// shows marker; it fails if the process ends first.
func startUntil(t *testing.T, marker string, args ...string) string {
	t.Helper()
	cmd := testfleet.CLI(args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	seen := make(chan struct{})
	var out strings.Builder
	go func() {
		sc := bufio.NewScanner(pr)
		found := false
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if !found && strings.Contains(sc.Text(), marker) {
				found = true
				close(seen)
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); pw.Close() }()
	select {
	case <-seen:
		_ = cmd.Process.Kill()
		<-exited
	case err := <-exited:
		t.Fatalf("upshift %s ended (%v) before %q:\n%s", strings.Join(args, " "), err, marker, out.String())
	case <-time.After(5 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("no %q in 5 minutes:\n%s", marker, out.String())
	}
	return out.String()
}

// TestKilledMidPhaseResumes kills the driver while it creates green (T1)
// and again right after it froze blue (T2); each resume carries on, and
// the end state is one green, no blue, no freeze, traffic on green.
func TestKilledMidPhaseResumes(t *testing.T) {
	ctx := t.Context()
	e := setup(t, "kc")
	f := testfleet.Fleet(t)
	spec := e.spec()
	spec.Validation.LoadComparison = nil
	spec.PostSwitch.Window = &metav1.Duration{Duration: time.Second}
	file := e.writeSpec(t, spec)
	startUntil(t, "creating green kc-g2", "bluegreen", "kc", "--to", toolchain.Latest().Minor, "-f", file, "--name", "bg-crash")
	startUntil(t, "deployers frozen", "resume", "bg-crash")
	cfg, _ := e.blue.RESTConfig()
	if active, err := freeze.Active(ctx, kubernetes.NewForConfigOrDie(cfg)); err != nil || len(active) != 1 {
		t.Fatalf("after the kill in T2 the freeze should hold (its run resumes): %v %v", active, err)
	}
	if out, err := testfleet.CLI("resume", "bg-crash").CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	clusters, err := f.Clusters()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range clusters {
		if strings.HasPrefix(c.Name, "kc") {
			names = append(names, c.Name)
		}
	}
	if strings.Join(names, ",") != "kc-g2" {
		t.Fatalf("clusters after the move: %v, want only kc-g2", names)
	}
	run, err := (&store.Store{Dir: f.Home}).Get("bg-crash")
	if err != nil || run.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("run: %v %v", run.Status.Phase, err)
	}
	r, err := e.provider.Route(ctx, hosts.Cluster)
	if err != nil || len(r.Backends) != 1 || r.Backends[0].Name != "kc-g2" {
		t.Fatalf("route after the move: %+v %v", r, err)
	}
}

// TestFleetRunThroughStages moves two clusters blue-green with `upshift
// run`: stages dev then prod, each cluster on its own names from the
// {cluster} placeholder (upshift creates the routes on an empty gateway),
// users on both public names all along, and the fleet file rewritten so
// each green takes its blue's place.
func TestFleetRunThroughStages(t *testing.T) {
	ctx := t.Context()
	var wg sync.WaitGroup
	for _, name := range []string{"fa", "fb"} {
		wg.Add(1)
		go func() { defer wg.Done(); upBlue(t, name, name+".shop.example") }()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	e := startGateway(t, nil)
	fleetFile := filepath.Join(e.dir, "fleet.yaml")
	if err := os.WriteFile(fleetFile, []byte(`apiVersion: upshift.dev/v1alpha1
kind: Cluster
metadata: {name: fa}
spec: {provider: local, local: {name: fa}, group: dev}
---
apiVersion: upshift.dev/v1alpha1
kind: Cluster
metadata: {name: fb}
spec: {provider: local, local: {name: fb}, group: prod}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	// A chat webhook whose URL (with its secret) is in a file, and a
	// receiver that fails its first answer.
	var hooks []map[string]any
	var hooksMu sync.Mutex
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hooksMu.Lock()
		defer hooksMu.Unlock()
		if r.URL.Path != "/hooks/T0-secret-path" {
			http.NotFound(w, r)
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("notification body: %v", err)
		}
		hooks = append(hooks, body)
		if len(hooks) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer receiver.Close()
	if err := os.WriteFile(filepath.Join(e.dir, "hook-url"), []byte(receiver.URL+"/hooks/T0-secret-path\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runFile := filepath.Join(e.dir, "run.yaml")
	if err := os.WriteFile(runFile, []byte(`apiVersion: upshift.dev/v1alpha1
kind: UpdateRun
metadata: {name: bg-fleet}
spec:
  notifications:
  - {name: team-chat, urlFile: hook-url}
  method: BlueGreen
  upgrade: {type: Full, kubernetesVersion: "`+toolchain.Latest().Minor+`"}
  strategy:
    stages:
    - {name: dev, groups: [{name: dev}]}
    - {name: prod, groups: [{name: prod}]}
  blueGreen:
    traffic:
      provider: gateway
      url: `+e.front+`
      gateway: {adminURL: "`+e.admin+`", tokenFile: `+filepath.Join(e.dir, "token")+`}
      hosts: {public: "{cluster}.shop.example", cluster: "{cluster}.aks.example", blue: "{cluster}-blue.aks.example", green: "{cluster}-green.aks.example"}
    sync: {namespaces: [shop]}
    postSwitch: {window: 1s}
`), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := testfleet.CLI("run", "-f", runFile, "--fleet", fleetFile)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Users come as soon as T0 has put their cluster behind its names.
	users := map[string]*loadgen.Stream{}
	var usersMu sync.Mutex
	var waiting sync.WaitGroup
	for _, name := range []string{"fa", "fb"} {
		waiting.Add(1)
		go func() {
			defer waiting.Done()
			if _, err := ingress.WaitServed(ctx, e.front, name+".shop.example", 1, 3*time.Minute); err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			usersMu.Lock()
			users[name] = loadgen.Start(ctx, loadgen.Target{URL: e.front + "/", Host: name + ".shop.example"}, 2, 10*time.Millisecond)
			usersMu.Unlock()
		}()
	}
	waiting.Wait()
	if t.Failed() {
		_ = cmd.Process.Kill()
		t.Fatalf("output:\n%s", out.String())
	}
	err := cmd.Wait()
	for name, u := range users {
		st := u.Stop()
		if st.Failed != 0 || st.ByServer[name+"-g2"] == 0 {
			t.Errorf("users of %s: %s by %v; want none failed and some served by %s-g2", name, st, st.ByServer, name)
		}
	}
	if err != nil {
		t.Fatalf("upshift run: %v\n%s", err, out.String())
	}
	run, err := (&store.Store{Dir: testfleet.Fleet(t).Home}).Get("bg-fleet")
	if err != nil {
		t.Fatal(err)
	}
	// The webhook heard the run start (on its second try), each stage end
	// and the run end, in order; the audit log says so, without the URL.
	hooksMu.Lock()
	var kinds []string
	for _, h := range hooks {
		kinds = append(kinds, fmt.Sprint(h["kind"]))
	}
	hooksMu.Unlock()
	if want := []string{"RunStarted", "RunStarted", "StageCompleted", "StageCompleted", "RunCompleted"}; !slices.Equal(kinds, want) {
		t.Errorf("notifications received: %v, want %v", kinds, want)
	}
	events, err := (&store.Store{Dir: testfleet.Fleet(t).Home}).Events("bg-fleet")
	if err != nil {
		t.Fatal(err)
	}
	delivered := 0
	for _, ev := range events {
		if strings.Contains(ev.Message, "secret-path") {
			t.Errorf("the webhook's URL is in the audit log: %+v", ev)
		}
		if ev.Type == "Notified" {
			delivered++
		}
	}
	if delivered != 4 || !slices.ContainsFunc(events, func(ev store.Event) bool { return strings.Contains(ev.Message, "RunStarted delivered (attempt 2)") }) {
		t.Errorf("the audit log records %d deliveries, want 4 with RunStarted on its second attempt", delivered)
	}
	dev, prod := run.Status.Stages[0], run.Status.Stages[1]
	if dev.End == nil || prod.Start == nil || prod.Start.Before(dev.End) {
		t.Fatalf("prod started before dev ended: dev %v–%v, prod from %v", dev.Start, dev.End, prod.Start)
	}
	data, err := os.ReadFile(fleetFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "name: fa-g2") || !strings.Contains(string(data), "name: fb-g2") {
		t.Fatalf("the fleet file does not name the new clusters:\n%s", data)
	}
	for _, name := range []string{"fa", "fb"} {
		r, err := e.provider.Route(ctx, name+".aks.example")
		if err != nil || len(r.Backends) != 1 || r.Backends[0].Name != name+"-g2" {
			t.Fatalf("route of %s: %+v %v", name, r, err)
		}
	}
}

// bgCrashWindow is about how long the campaign's blue-green move takes
// here (11–13 s): kills fall anywhere in it.
const bgCrashWindow = 11 * time.Second

// TestBlueGreenCrashCampaign SIGKILLs `upshift bluegreen` at random
// moments of blue-green moves under load and resumes each: every round
// must end with the run Completed, one green built once, blue retired, the
// route on green, no freeze left and no failed request (see
// testfleet.BlueGreenCrashCampaign). BenchmarkBlueGreenCrashCampaign runs
// more.
func TestBlueGreenCrashCampaign(t *testing.T) {
	rounds := testfleet.BlueGreenCrashCampaign(t, 2, bgCrashWindow)
	for i, r := range rounds {
		t.Logf("round %d: killed %v at %s in %q", i, r.Killed, r.At.Round(time.Millisecond), r.Step)
	}
}

// TestBaselineFailingStopsBeforeGreen: when users' traffic to blue fails
// before anything changed (here traffic.url names a port nobody serves),
// T0 stops the move with the failing figure and what to check, and green
// is never built: the post-switch window would otherwise have failed
// green for blue's fault, after the switch.
func TestBaselineFailingStopsBeforeGreen(t *testing.T) {
	e := setup(t, "t0")
	spec := e.spec()
	spec.Traffic.URL = "http://" + testfleet.LoopbackAddr(t) // nothing listens there
	cmd := testfleet.CLI("bluegreen", "t0", "--to", toolchain.Latest().Minor, "-f", e.writeSpec(t, spec), "--name", "bg-t0")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the move went on from a failing baseline:\n%s", out)
	}
	for _, want := range []string{"fails its own traffic before anything changed", "100 sent, 100 failed", "check traffic.url", "nothing was built"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the output does not say %q:\n%s", want, out)
		}
	}
	if _, err := testfleet.Fleet(t).Get("t0-g2"); err == nil {
		t.Error("green was built from a failing baseline")
	}
	if w, err := e.provider.Weights(t.Context(), hosts.Cluster); err != nil || w["t0"] != 100 {
		t.Errorf("weights %v (%v), want all on blue", w, err)
	}
}
