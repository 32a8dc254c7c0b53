package canary_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/methods/canary"
	"upshift.dev/upshift/internal/providers/traffic"
	fd "upshift.dev/upshift/internal/providers/traffic/frontdoor"
	"upshift.dev/upshift/internal/providers/traffic/gatewayapi"
	"upshift.dev/upshift/internal/providers/traffic/haproxy"
	tm "upshift.dev/upshift/internal/providers/traffic/trafficmanager"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

// TestCanaryThroughHAProxy adopts the target version step by step behind
// a real HAProxy, driven through its runtime API, while users keep using
// the public name; testers reach green first by its own name (its
// backend, which the provider fills), and blue leaves HAProxy at the end.
func TestCanaryThroughHAProxy(t *testing.T) {
	e := setup(t, "hx", nil)
	u, err := url.Parse(e.blue.IngressURL())
	if err != nil {
		t.Fatal(err)
	}
	h := testfleet.HAProxyForNames(t, hosts, "hx", u.Host)
	e.front = "http://" + h.Listen
	e.traffic = v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficHAProxy, Hosts: hosts, URL: e.front,
		HAProxy: &v1alpha1.HAProxyTraffic{RuntimeAPI: h.Socket, ConfigFile: h.Config, ServerOptions: "check inter 300ms"}}
	canaryThrough(t, e, "hx", true)
	state := h.Command(t, "show servers state "+hosts.Cluster)
	if strings.Contains(state, " hx ") || !strings.Contains(state, " hx-g2 ") {
		t.Errorf("after the canary HAProxy runs:\n%s\nwant hx-g2 alone", state)
	}
}

// TestCanaryThroughFrontDoor adopts the target version step by step
// through Azure Front Door, via the Azure emulator (its edge played by a
// real gateway), every request and answer held to Azure's published
// Front Door contract: the cluster name is an origin group, blue and
// green its origins, and users keep using the name through the edge.
func TestCanaryThroughFrontDoor(t *testing.T) {
	ctx := t.Context()
	e := setup(t, "fdc", nil)
	arm, front := testfleet.AzureEdge(t, token, 200*time.Millisecond)
	testfleet.FrontDoorProfile(t, arm, "edge-rg", "edge")
	names := v1alpha1.HostNames{Public: hosts.Public, Cluster: "fdc" + fd.DNSSuffix, Blue: "fdc-blue" + fd.DNSSuffix, Green: "fdc-green" + fd.DNSSuffix}
	spec := v1alpha1.FrontDoorTraffic{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: "edge-rg", Profile: "edge", ARMEndpoint: arm}
	p, err := fd.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ApplyRoute(ctx, traffic.Route{Host: names.Cluster, UpstreamHost: hosts.Public, Backends: []traffic.Backend{{Name: "fdc", URL: e.blue.IngressURL(), Weight: 100}}}); err != nil {
		t.Fatal(err)
	}
	e.front, e.userHost = front, names.Cluster
	e.traffic = v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficFrontDoor, Hosts: names, URL: e.front, FrontDoor: &spec}
	canaryThrough(t, e, "fdc", false)
	if w, err := p.Weights(ctx, names.Cluster); err != nil || w.String() != "fdc-g2=100" {
		t.Errorf("after the canary the origin group of %s holds %s (%v), want fdc-g2 alone", names.Cluster, w, err)
	}
}

// TestCanaryThroughTrafficManager does the same through Azure Traffic
// Manager, via the emulator (a gateway stands for the resolvers users go
// through): the cluster name is a Weighted profile, blue and green its
// endpoints.
func TestCanaryThroughTrafficManager(t *testing.T) {
	ctx := t.Context()
	e := setup(t, "tmc", nil)
	arm, front := testfleet.AzureEdge(t, token, 200*time.Millisecond)
	names := v1alpha1.HostNames{Public: hosts.Public, Cluster: "tmc" + tm.DNSSuffix, Blue: "tmc-blue" + tm.DNSSuffix, Green: "tmc-green" + tm.DNSSuffix}
	spec := v1alpha1.TrafficManagerTraffic{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: "traffic-rg", ARMEndpoint: arm, TTL: 2, SwitchTTL: 1}
	p, err := tm.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ApplyRoute(ctx, traffic.Route{Host: names.Cluster, UpstreamHost: hosts.Public, Backends: []traffic.Backend{{Name: "tmc", URL: e.blue.IngressURL(), Weight: 100}}}); err != nil {
		t.Fatal(err)
	}
	e.front, e.userHost = front, names.Cluster
	e.traffic = v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficTrafficManager, Hosts: names, URL: e.front, TrafficManager: &spec}
	canaryThrough(t, e, "tmc", false)
	if w, err := p.Weights(ctx, names.Cluster); err != nil || w.String() != "tmc-g2=100" {
		t.Errorf("after the canary the profile %s holds %s (%v), want tmc-g2 alone", names.Cluster, w, err)
	}
}

// TestCanaryThroughHAProxyRollsBackOnErrors: green fails 30% of its
// answers; a Metrics gate reading HAProxy's own counters (show stat), with
// no other monitoring, fails the first step within seconds and the canary
// rolls back: all of HAProxy's traffic is on blue again.
func TestCanaryThroughHAProxyRollsBackOnErrors(t *testing.T) {
	e := setup(t, "hxbad", map[string]string{ingress.FaultErrorPercent: "30", ingress.FaultKubernetesVersion: "v" + toolchain.Latest().Minor + "."})
	u, err := url.Parse(e.blue.IngressURL())
	if err != nil {
		t.Fatal(err)
	}
	h := testfleet.HAProxyForNames(t, hosts, "hxbad", u.Host)
	e.front = "http://" + h.Listen
	e.traffic = v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficHAProxy, Hosts: hosts, URL: e.front,
		HAProxy: &v1alpha1.HAProxyTraffic{RuntimeAPI: h.Socket, ConfigFile: h.Config}}
	if _, err := ingress.WaitServed(t.Context(), e.front, hosts.Public, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	eng := e.run(t, "canary-hxbad", []v1alpha1.CanaryStep{{Weight: 25, Pause: pause(30 * time.Second)}}, metricsGate(v1alpha1.MetricsGate{MinRequests: 5}))
	users := e.users(t)
	final, err := eng.Drive(t.Context(), "canary-hxbad")
	stats := users.Stop()
	t.Logf("users: %s; by cluster %v", stats, stats.ByServer)
	if !errors.Is(err, engine.ErrRolledBack) {
		t.Fatalf("run: %v, want rolled back\n%s", err, testfleet.StatusOf(final))
	}
	cs := clusterStatus(final)
	t.Cleanup(func() { _ = testfleet.Fleet(t).Down(cs.BlueGreen.Green) })
	failed := slices.IndexFunc(cs.Canary.Analysis, func(m v1alpha1.Measurement) bool { return m.Phase == v1alpha1.MeasurementFailed })
	if failed < 0 || !strings.Contains(cs.Canary.Analysis[failed].Message, "green's error ratio") {
		t.Fatalf("no failed measurement of green's errors through HAProxy: %+v", cs.Canary.Analysis)
	}
	step := slices.IndexFunc(cs.Steps, func(s v1alpha1.StepStatus) bool { return s.Kind == canary.StepTraffic })
	if held := cs.Steps[step].End.Sub(cs.Steps[step].Start.Time); held > 20*time.Second {
		t.Errorf("the failing step was held %s: HAProxy's counters should end it within seconds", held)
	}
	p, err := haproxy.FromSpec(e.traffic)
	if err != nil {
		t.Fatal(err)
	}
	if w, err := p.Weights(t.Context(), hosts.Cluster); err != nil || w[e.blue.Name] != 100 || w[cs.BlueGreen.Green] != 0 {
		t.Errorf("HAProxy's weights after the rollback: %v %v; want all on blue", w, err)
	}
	if share := float64(stats.Failed) / float64(stats.Sent); share > 0.25*0.30+0.02 {
		t.Errorf("users saw %.1f%% errors: more than green's share of its failures", share*100)
	}
}

// TestCanaryThroughGatewayAPI does the same through an HTTPRoute on an
// edge cluster, served by upshift's gateway following it, with a testers
// step first: a header match on the route lets testers reach green while
// every user stays on blue.
func TestCanaryThroughGatewayAPI(t *testing.T) {
	ctx := t.Context()
	e := setup(t, "cg", nil)
	edge := testfleet.Up(t, localfleet.Spec{Name: "edge-canary", KubernetesVersion: toolchain.Latest().Minor})
	cfg, err := edge.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	e.front = testfleet.GatewayAPIFront(t, cfg)
	ga := &v1alpha1.GatewayAPITraffic{Kubeconfig: edge.KubeconfigPath(), ParentRef: v1alpha1.GatewayParentRef{Name: "front"}}
	p, err := gatewayapi.New(cfg, *ga)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ApplyRoute(ctx, traffic.Route{Host: hosts.Cluster, Aliases: []string{hosts.Public}, UpstreamHost: hosts.Public,
		Backends: []traffic.Backend{{Name: "cg", URL: e.blue.IngressURL(), Weight: 100}}}); err != nil {
		t.Fatal(err)
	}
	e.traffic = v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficGatewayAPI, Hosts: hosts, URL: e.front, GatewayAPI: ga}
	canaryThrough(t, e, "cg", true)
	if w, err := p.Weights(ctx, hosts.Cluster); err != nil || w.String() != "cg-g2=100" {
		t.Errorf("after the canary HTTPRoute %s carries %s (%v), want cg-g2 alone", hosts.Cluster, w, err)
	}
}

// canaryThrough runs a canary of blue (testers first where asked, then
// 25% for 4 s, then all) on the env's front door under users' load: no
// request fails, testers reach green while users do not, and while the
// 25% step holds green answers about a quarter of users.
func canaryThrough(t *testing.T, e *canaryEnv, blue string, testers bool) {
	t.Helper()
	ctx := t.Context()
	if _, err := ingress.WaitServed(ctx, e.front, e.usersHost(), 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	green := blue + "-g2"
	steps := []v1alpha1.CanaryStep{{Weight: 25, Pause: pause(4 * time.Second)}, {Weight: 100, Pause: pause(2 * time.Second)}}
	if testers {
		steps = append([]v1alpha1.CanaryStep{{Testers: true, Pause: pause(4 * time.Second)}}, steps...)
	}
	n := len(steps)
	eng := e.run(t, "canary-"+blue, steps, nil)
	users := e.users(t)
	var atTesters, testersDone, at25, at100 loadgen.Stats
	tester := make(chan string, 1)
	e.onEvent = func(ev engine.Event) {
		switch {
		case strings.HasPrefix(ev.Message, "testers reach green with the header "+gatewayapi.PinHeader+": "+green):
			atTesters = users.Snapshot()
			go func() { tester <- testerRequest(t, e.front, hosts.Public, green) }()
		case strings.HasPrefix(ev.Message, "testers reach green "+green+" by its own name "+hosts.Green):
			atTesters = users.Snapshot()
			go func() { tester <- testerRequest(t, e.front, hosts.Green, "") }()
		case strings.HasPrefix(ev.Message, "0% on green for"):
			testersDone = users.Snapshot()
		case strings.HasPrefix(ev.Message, fmt.Sprintf("step %d of %d", n-1, n)):
			at25 = users.Snapshot()
		case strings.HasPrefix(ev.Message, fmt.Sprintf("step %d of %d", n, n)):
			at100 = users.Snapshot()
		}
	}
	final, err := eng.Drive(ctx, "canary-"+blue)
	stats := users.Stop()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, testfleet.StatusOf(final))
	}
	t.Logf("users through the canary: %s; by cluster %v", stats, stats.ByServer)
	if stats.Failed != 0 || stats.Sent < 200 {
		t.Fatalf("users: %s (%v); want hundreds of requests and none failed", stats, stats.Errors)
	}
	if stats.ByServer[blue] == 0 || stats.ByServer[green] == 0 {
		t.Fatalf("requests by cluster %v: both blue and green should have served", stats.ByServer)
	}
	if testers {
		if by := <-tester; by != green {
			t.Errorf("a tester's request was answered by %q, want green %s", by, green)
		}
		if n := testersDone.ByServer[green] - atTesters.ByServer[green]; n != 0 || testersDone.Sent-atTesters.Sent < 100 {
			t.Errorf("green answered %d of %d users during the testers step", n, testersDone.Sent-atTesters.Sent)
		}
	}
	sent := at100.Sent - at25.Sent
	got := at100.ByServer[green] - at25.ByServer[green]
	t.Logf("during the 25%% step green answered %d of %d requests", got, sent)
	if sent < 100 || got*100 < sent*10 || got*100 > sent*40 {
		t.Errorf("during the 25%% step green answered %d of %d requests", got, sent)
	}
}

// testerRequest sends a tester's request for host, with the pin header
// for pin if set, and returns who answered; green may not be healthy at
// the front door yet, so a 503 is tried again.
func testerRequest(t *testing.T, front, host, pin string) string {
	for range 50 {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, front+"/", nil)
		req.Host = host
		if pin != "" {
			req.Header.Set(gatewayapi.PinHeader, pin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			return resp.Header.Get(loadgen.BackendHeader)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "no answer but 503"
}
