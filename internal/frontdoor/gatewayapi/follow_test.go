package gatewayapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/frontdoor/gatewayapi"
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

const token = "gateway-api-test-token-0123456789"

// env is a real API server with the Gateway API's CRDs, the class
// "upshift" and its Gateway "front", and upshift's gateway following them.
type env struct {
	cfg    *rest.Config
	c      client.WithWatch
	front  string
	nextNS int
}

func start(t *testing.T) *env {
	ctx := t.Context()
	cl := testfleet.Up(t, localfleet.Spec{Name: "gwapi", KubernetesVersion: toolchain.Latest().Minor})
	cfg, err := cl.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	testfleet.InstallGatewayAPI(t, cfg)
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: trafficgatewayapi.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &gatewayv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "upshift"}, Spec: gatewayv1.GatewayClassSpec{ControllerName: gatewayapi.ControllerName}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "front", Namespace: "default"}, Spec: gatewayv1.GatewaySpec{
		GatewayClassName: "upshift", Listeners: []gatewayv1.Listener{{Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType}}}}); err != nil {
		t.Fatal(err)
	}
	gcfg := frontdoor.Config{Listen: testfleet.LoopbackAddr(t), AdminListen: testfleet.LoopbackAddr(t), HealthInterval: frontdoor.Duration{Duration: 200 * time.Millisecond}}
	gw := testfleet.RunGateway(t, gcfg, token)
	fctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&gatewayapi.Follower{Client: c, Class: "upshift", Gateway: gw}).Run(fctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &env{cfg: cfg, c: c, front: "http://" + gcfg.Listen}
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
	})
}
