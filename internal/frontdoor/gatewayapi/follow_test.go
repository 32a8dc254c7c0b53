package gatewayapi_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/providers/traffic"
	trafficgatewayapi "upshift.dev/upshift/internal/providers/traffic/gatewayapi"
	"upshift.dev/upshift/internal/providers/traffic/traffictest"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) {
	builtin.Register()
	testfleet.Main(m)
}

// env is a real API server with the Gateway API's CRDs, the class
// "upshift" and its Gateway "front", and upshift's gateway following them
// (testfleet.GatewayAPIFront).
type env struct {
	cfg        *rest.Config
	kubeconfig string
	c          client.WithWatch
	front      string
	nextNS     int
}

func start(t *testing.T) *env {
	cl := testfleet.Up(t, localfleet.Spec{Name: "gwapi", KubernetesVersion: toolchain.Latest().Minor})
	cfg, err := cl.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	front := testfleet.GatewayAPIFront(t, cfg)
	c, err := trafficgatewayapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{cfg: cfg, kubeconfig: cl.KubeconfigPath(), c: c, front: front}
}

// namespace makes a namespace of its own for a case.
func (e *env) namespace(t *testing.T) string {
	e.nextNS++
	ns := fmt.Sprintf("case-%d", e.nextNS)
	if err := e.c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	return ns
}

func (e *env) provider(t *testing.T, ns string) *trafficgatewayapi.Provider {
	p, err := trafficgatewayapi.New(e.cfg, v1alpha1.GatewayAPITraffic{Namespace: ns, ParentRef: v1alpha1.GatewayParentRef{Name: "front", Namespace: "default"},
		AcceptTimeout: &metav1.Duration{Duration: 20 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestContract runs the traffic provider contract on HTTPRoutes of a real
// API server, each switch counting once upshift's gateway, following
// them, has accepted it.
func TestContract(t *testing.T) {
	e := start(t)
	traffictest.Run(t, func(t *testing.T) traffictest.Front {
		ns := e.namespace(t)
		blue, green, third := traffictest.Backends(t)
		host := ns + ".upshift.test"
		if err := e.provider(t, ns).ApplyRoute(t.Context(), traffic.Route{Host: host, Backends: []traffic.Backend{
			{Name: "blue", URL: blue, Weight: 100}, {Name: "green", URL: green, Weight: 0}}}); err != nil {
			t.Fatal(err)
		}
		return traffictest.Front{Open: func(t *testing.T) traffic.Provider { return e.provider(t, ns) }, Route: host, Split: true, Blue: blue, Green: green, Third: third}
	})
	t.Run("MoveUnderLoad", func(t *testing.T) {
		ctx := t.Context()
		ns := e.namespace(t)
		blue, green, _ := traffictest.Backends(t)
		host := ns + ".upshift.test"
		p := e.provider(t, ns)
		if err := p.ApplyRoute(ctx, traffic.Route{Host: host, Backends: []traffic.Backend{{Name: "blue", URL: blue, Weight: 100}}}); err != nil {
			t.Fatal(err)
		}
		load := loadgen.Start(ctx, loadgen.Target{URL: e.front + "/", Host: host}, 4, 5*time.Millisecond)
		steps := []func() error{
			func() error {
				return p.ApplyRoute(ctx, traffic.Route{Host: host, Backends: []traffic.Backend{{Name: "blue", URL: blue, Weight: 100}, {Name: "green", URL: green, Weight: 0}}})
			},
			func() error { return p.Switch(ctx, host, traffic.Weights{"blue": 50, "green": 50}) },
			func() error { return p.Switch(ctx, host, traffic.Weights{"blue": 0, "green": 100}) },
			func() error {
				return p.ApplyRoute(ctx, traffic.Route{Host: host, Backends: []traffic.Backend{{Name: "green", URL: green, Weight: 100}}})
			},
		}
		var atGreen loadgen.Stats
		for i, step := range steps {
			time.Sleep(500 * time.Millisecond)
			if err := step(); err != nil {
				load.Stop()
				t.Fatalf("step %d: %v", i, err)
			}
			if i == 2 {
				atGreen = load.Snapshot()
			}
		}
		time.Sleep(500 * time.Millisecond)
		stats := load.Stop()
		t.Logf("load through the route's move: %s; by backend %v", stats, stats.ByServer)
		if stats.Failed != 0 || stats.Sent < 200 {
			t.Fatalf("load: %s (%v); want hundreds of requests and none failed", stats, stats.Errors)
		}
		if stats.ByServer["blue"] == 0 || stats.ByServer["green"] == 0 {
			t.Fatalf("by backend %v: both should have served", stats.ByServer)
		}
		// The switch counted once the gateway applied it: blue got
		// nothing after it returned but requests already in flight.
		if late := stats.ByServer["blue"] - atGreen.ByServer["blue"]; late > 4 {
			t.Fatalf("blue answered %d requests after the switch to green returned", late)
		}
		// Blue left the route, and no route uses its Service: it is gone.
		var svc corev1.Service
		if err := e.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "blue"}, &svc); err == nil {
			t.Errorf("blue's Service outlives its last route: %+v", svc.Spec)
		}
		if err := e.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "green"}, &svc); err != nil {
			t.Errorf("green's Service: %v", err)
		}
	})
}

// TestStatusTellsTheTruth: a switch of a route whose Gateway nobody
// implements fails saying so, and changes the route only as it says; the
// gateway leaves that route alone, and reports a backend that does not
// resolve instead of serving it.
func TestStatusTellsTheTruth(t *testing.T) {
	e := start(t)
	ctx := t.Context()
	ns := e.namespace(t)
	if err := e.c.Create(ctx, &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: ns}, Spec: gatewayv1.GatewaySpec{
		GatewayClassName: "someone-else", Listeners: []gatewayv1.Listener{{Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType}}}}); err != nil {
		t.Fatal(err)
	}
	blue, _, _ := traffictest.Backends(t)
	p, err := trafficgatewayapi.New(e.cfg, v1alpha1.GatewayAPITraffic{Namespace: ns, ParentRef: v1alpha1.GatewayParentRef{Name: "elsewhere"}, AcceptTimeout: &metav1.Duration{Duration: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	err = p.ApplyRoute(ctx, traffic.Route{Host: "elsewhere.upshift.test", Backends: []traffic.Backend{{Name: "blue", URL: blue, Weight: 100}}})
	if err == nil || !strings.Contains(err.Error(), "did not accept it within 2s") || !strings.Contains(err.Error(), "is its implementation running?") {
		t.Fatalf("a route nobody implements: %v", err)
	}
	var r gatewayv1.HTTPRoute
	if err := e.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "elsewhere.upshift.test"}, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Status.Parents) != 0 {
		t.Errorf("upshift's gateway reported on a route of another class: %+v", r.Status.Parents)
	}
	if code := get(t, e.front, "elsewhere.upshift.test"); code != http.StatusNotFound {
		t.Errorf("the gateway serves a route of another class: %d", code)
	}

	// A route of upshift's class whose Service does not exist.
	broken := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: "broken", Namespace: ns}, Spec: gatewayv1.HTTPRouteSpec{
		CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Name: "front", Namespace: ptr.To(gatewayv1.Namespace("default"))}}},
		Hostnames:       []gatewayv1.Hostname{"broken.upshift.test"},
		Rules: []gatewayv1.HTTPRouteRule{{BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{
			BackendObjectReference: gatewayv1.BackendObjectReference{Name: "missing", Port: ptr.To(gatewayv1.PortNumber(80))}}}}}},
	}}
	if err := e.c.Create(ctx, broken); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(broken), broken); err != nil {
			t.Fatal(err)
		}
		if len(broken.Status.Parents) == 1 {
			c := meta.FindStatusCondition(broken.Status.Parents[0].Conditions, string(gatewayv1.RouteConditionResolvedRefs))
			if c == nil || c.Status != metav1.ConditionFalse || c.Reason != string(gatewayv1.RouteReasonBackendNotFound) || !strings.Contains(c.Message, "missing") {
				t.Fatalf("a route whose Service is missing reports %+v", broken.Status.Parents[0].Conditions)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no status on a route of upshift's class after 20s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code := get(t, e.front, "broken.upshift.test"); code != http.StatusNotFound {
		t.Errorf("the gateway serves a route whose backend does not resolve: %d", code)
	}
}

func get(t *testing.T, front, host string) int {
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, front+"/", nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestGatewayCommandFollows runs `upshift gateway --gateway-api` as a
// user would, with a class of its own: a route attached to that class's
// Gateway is accepted and served.
func TestGatewayCommandFollows(t *testing.T) {
	e := start(t)
	ctx := t.Context()
	if err := e.c.Create(ctx, &gatewayv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "cli"}, Spec: gatewayv1.GatewayClassSpec{ControllerName: "upshift.dev/gateway"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Create(ctx, &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "cli", Namespace: "default"}, Spec: gatewayv1.GatewaySpec{
		GatewayClassName: "cli", Listeners: []gatewayv1.Listener{{Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType}}}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	listen := testfleet.LoopbackAddr(t)
	conf := fmt.Sprintf("listen: %s\nadminListen: %s\nadminTokenFile: %s/token\nroutes: []\n", listen, testfleet.LoopbackAddr(t), dir)
	if err := os.WriteFile(dir+"/token", []byte("cli-gateway-token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/gateway.yaml", []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var out testfleet.SyncBuffer
	cmd := testfleet.CLI("gateway", "--config", dir+"/gateway.yaml", "--gateway-api", "--kubeconfig", e.kubeconfig, "--gateway-class", "cli")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ns := e.namespace(t)
	blue, _, _ := traffictest.Backends(t)
	p, err := trafficgatewayapi.New(e.cfg, v1alpha1.GatewayAPITraffic{Namespace: ns, ParentRef: v1alpha1.GatewayParentRef{Name: "cli", Namespace: "default"}, AcceptTimeout: &metav1.Duration{Duration: 20 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ApplyRoute(ctx, traffic.Route{Host: "cli.upshift.test", Backends: []traffic.Backend{{Name: "blue", URL: blue, Weight: 100}}}); err != nil {
		t.Fatalf("%v\nthe gateway said:\n%s", err, out.String())
	}
	if code := get(t, "http://"+listen, "cli.upshift.test"); code != http.StatusOK {
		t.Fatalf("the route through the gateway command: %d\n%s", code, out.String())
	}
	// By hand, as `upshift traffic` on the route.
	args := []string{"--gateway-api", "default/cli", "--kubeconfig", e.kubeconfig, "-n", ns, "--route", "cli.upshift.test"}
	if code, got := testfleet.RunCLI(t, append([]string{"traffic", "get"}, args...)...); code != 0 || strings.TrimSpace(got) != "blue=100" {
		t.Errorf("upshift traffic get --gateway-api: exit %d\n%s", code, got)
	}
	if code, got := testfleet.RunCLI(t, append([]string{"traffic", "set", "blue=50,purple=50"}, args...)...); code != 2 || !strings.Contains(got, "has no backendRef purple") {
		t.Errorf("upshift traffic set naming a backend the route lacks: exit %d\n%s", code, got)
	}
	if !strings.Contains(out.String(), "following the Gateway API objects of GatewayClass cli") {
		t.Errorf("the gateway does not say what it follows:\n%s", out.String())
	}
}
