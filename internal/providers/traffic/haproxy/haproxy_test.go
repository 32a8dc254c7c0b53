package haproxy_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/providers/traffic"
	"upshift.dev/upshift/internal/providers/traffic/haproxy"
	"upshift.dev/upshift/internal/providers/traffic/traffictest"
	"upshift.dev/upshift/internal/testfleet"
)

// TestMoveUnderLoadSurvivesReloads moves a route from blue to green as a
// blue-green run does, through Debian's HAProxy under load, reloading
// HAProxy mid-move and after it: no request fails, a switched-off server
// gets no new requests, and each reload keeps what the provider set,
// servers it added included.
func TestMoveUnderLoadSurvivesReloads(t *testing.T) {
	ctx := t.Context()
	blue, green, third := traffictest.Backends(t)
	h := startFront(t, blue, green)
	p := open(t, h, true).(*haproxy.Provider)
	load := loadgen.Start(ctx, loadgen.Target{URL: "http://" + h.Listen + "/", Host: route}, 4, 2*time.Millisecond)
	step := func(what string, fn func() error) {
		t.Helper()
		if err := fn(); err != nil {
			load.Stop()
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	step("switching 10% to green", func() error { return p.Switch(ctx, route, traffic.Weights{"blue": 90, "green": 10}) })
	step("switching all to green", func() error { return p.Switch(ctx, route, traffic.Weights{"blue": 0, "green": 100}) })
	switched := load.Snapshot()
	h.Reload(t)
	time.Sleep(300 * time.Millisecond)
	if w, err := p.Weights(ctx, route); err != nil || w.String() != "blue=0,green=100" {
		load.Stop()
		t.Fatalf("after a reload mid-move the route reads %s (%v), want blue=0,green=100", w, err)
	}
	step("taking blue out", func() error {
		return p.ApplyRoute(ctx, traffic.Route{Host: route, Backends: []traffic.Backend{{Name: "green", URL: green, Weight: 100}}})
	})
	step("giving green's own name a server", func() error {
		return p.ApplyRoute(ctx, traffic.Route{Host: "green.upshift.test", Backends: []traffic.Backend{{Name: "green", URL: third, Weight: 100}}})
	})
	h.Reload(t)
	time.Sleep(300 * time.Millisecond)
	stats := load.Stop()
	t.Logf("load through the move and two reloads: %s; by server %v", stats, stats.ByServer)
	if stats.Sent < 500 || stats.Failed != 0 {
		t.Fatalf("load: %s, errors %v; want hundreds of requests and none failed", stats, stats.Errors)
	}
	// Requests in flight when blue went to 0 may still finish there.
	if late := stats.ByServer["blue"] - switched.ByServer["blue"]; late > 4 {
		t.Fatalf("blue answered %d requests after its weight went to 0", late)
	}
	if switched.ByServer["blue"] == 0 || stats.ByServer["green"] == 0 {
		t.Fatalf("requests by server %v: blue and green should both have served", stats.ByServer)
	}
	// The reloaded HAProxy runs what the provider set.
	r, err := p.Route(ctx, route)
	if err != nil || len(r.Backends) != 1 || r.Backends[0].Name != "green" || r.Backends[0].Weight != 100 {
		t.Fatalf("after the reload %s is %+v (%v), want green alone", route, r.Backends, err)
	}
	r, err = p.Route(ctx, "green.upshift.test")
	if err != nil || len(r.Backends) != 1 || r.Backends[0].URL != third {
		t.Fatalf("after the reload green.upshift.test is %+v (%v), want the added server at %s", r.Backends, err, third)
	}
	conf, err := os.ReadFile(h.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"use_backend %[req.hdr(host),lower,field(1,:)]", "  server green " + hostPort(t, green) + " weight 100\n", "backend green.upshift.test\n  server green " + hostPort(t, third) + " weight 100\n"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("the configuration lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(string(conf), "server blue") {
		t.Errorf("blue's line is still in the configuration:\n%s", conf)
	}
}

// TestRefusesWhatHAProxyCannotServe: a backend HAProxy does not declare,
// a runtime API that does not answer, and options upshift sets itself
// are refused with what to do, and change nothing.
func TestMain(m *testing.M) {
	builtin.Register()
	testfleet.Main(m)
}

func TestRefusesWhatHAProxyCannotServe(t *testing.T) {
	ctx := t.Context()
	blue, green, _ := traffictest.Backends(t)
	h := startFront(t, blue, green)
	before, _ := os.ReadFile(h.Config)
	p := open(t, h, true).(*haproxy.Provider)
	err := p.ApplyRoute(ctx, traffic.Route{Host: "blue.upshift.test", Backends: []traffic.Backend{{Name: "blue", URL: blue, Weight: 100}}})
	if err == nil || !strings.Contains(err.Error(), `no backend "blue.upshift.test"`) || !strings.Contains(err.Error(), "declare it in HAProxy's configuration") {
		t.Errorf("a route without a backend: %v", err)
	}
	down, err := haproxy.FromSpec(v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficHAProxy, HAProxy: &v1alpha1.HAProxyTraffic{RuntimeAPI: h.Socket + ".missing"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := down.Weights(ctx, route); err == nil || !strings.Contains(err.Error(), "HAProxy runtime API") {
		t.Errorf("an unreachable runtime API: %v", err)
	}
	for _, opts := range []string{"check weight 5", "ssl verify none"} {
		_, err := haproxy.FromSpec(v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficHAProxy, HAProxy: &v1alpha1.HAProxyTraffic{RuntimeAPI: h.Socket, ServerOptions: opts}})
		if err == nil || !strings.Contains(err.Error(), "is set by upshift") {
			t.Errorf("serverOptions %q: %v", opts, err)
		}
	}
	// The CLI says the same, as bad input (exit 2).
	code, out := testfleet.RunCLI(t, "traffic", "set", "--haproxy", h.Socket, "--haproxy-config", h.Config, "--route", route, "blue=50,purple=50")
	if code != 2 || !strings.Contains(out, "has no server purple (it has blue, green)") {
		t.Errorf("upshift traffic set naming a server HAProxy lacks: exit %d\n%s", code, out)
	}
	if code, out := testfleet.RunCLI(t, "traffic", "get", "--haproxy", h.Socket, "--route", route); code != 0 || strings.TrimSpace(out) != "blue=100,green=0" {
		t.Errorf("upshift traffic get: exit %d\n%s", code, out)
	}
	if after, _ := os.ReadFile(h.Config); string(after) != string(before) {
		t.Errorf("refusals changed the configuration:\n%s", after)
	}
	if w, err := p.Weights(ctx, route); err != nil || w.String() != "blue=100,green=0" {
		t.Errorf("refusals changed the weights: %s (%v)", w, err)
	}
}

// TestObserveCountsEachServer: the counters a canary's Metrics gates read
// come from HAProxy's own show stat, per server of the route's backend:
// every answer counted once, a 5xx and a request the server never
// answered (connection refused) as errors; an unknown route is
// ErrNoRoute.
func TestObserveCountsEachServer(t *testing.T) {
	ctx := t.Context()
	blue, _, _ := traffictest.Backends(t)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "green")
	}))
	t.Cleanup(failing.Close)
	h := startFront(t, blue, failing.URL)
	p := open(t, h, false)
	obs, ok := p.(traffic.Observer)
	if !ok {
		t.Fatal("the haproxy provider is no traffic.Observer")
	}
	before, err := obs.Observe(ctx, route)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Switch(ctx, route, traffic.Weights{"blue": 50, "green": 50}); err != nil {
		t.Fatal(err)
	}
	send := func(path string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+h.Listen+path, nil)
		req.Host = route
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for range 20 {
		send("/fail") // blue answers 200, green 500: round robin, 10 each
	}
	after, err := obs.Observe(ctx, route)
	if err != nil {
		t.Fatal(err)
	}
	b, g := after["blue"], after["green"]
	if got := b.Requests - before["blue"].Requests + g.Requests - before["green"].Requests; got != 20 {
		t.Errorf("%v requests counted, want 20 (blue %+v, green %+v)", got, b, g)
	}
	if g.Requests == 0 || g.Errors != g.Requests || b.Errors != 0 || b.Requests == 0 {
		t.Errorf("blue %+v, green %+v: want green's answers all errors, blue's none", b, g)
	}
	if len(g.Latency) != 0 {
		t.Errorf("latency %v: HAProxy's counters carry none, and none should be made up", g.Latency)
	}
	// A server that refuses connections: counted as requests not answered.
	failing.Close()
	for range 10 {
		send("/")
	}
	down, err := obs.Observe(ctx, route)
	if err != nil {
		t.Fatal(err)
	}
	if d := down["green"]; d.Errors-g.Errors == 0 || d.Requests-g.Requests != d.Errors-g.Errors {
		t.Errorf("green refusing connections: before %+v, after %+v; want the unanswered requests counted as errors", g, d)
	}
	if _, err := obs.Observe(ctx, "nowhere.upshift.test"); !errors.Is(err, traffic.ErrNoRoute) {
		t.Errorf("an unknown route: %v, want ErrNoRoute", err)
	}
}
