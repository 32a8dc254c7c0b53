package trafficmanager_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/providers/traffic"
	tm "upshift.dev/upshift/internal/providers/traffic/trafficmanager"
	"upshift.dev/upshift/internal/testfleet"
)

const token = "test-gateway-admin-token-0123456789"

func TestShares(t *testing.T) {
	ep := func(name, status string, w int64) tm.Endpoint {
		return tm.Endpoint{Name: name, Properties: &tm.EndpointProps{EndpointStatus: status, Weight: to.Ptr(w)}}
	}
	for _, tc := range []struct {
		eps  []tm.Endpoint
		want string
	}{
		{[]tm.Endpoint{ep("blue", tm.Enabled, 100), ep("green", tm.Disabled, 1)}, "blue=100,green=0"},
		{[]tm.Endpoint{ep("blue", tm.Enabled, 90), ep("green", tm.Enabled, 10)}, "blue=90,green=10"},
		{[]tm.Endpoint{ep("a", tm.Enabled, 1), ep("b", tm.Enabled, 1), ep("c", tm.Enabled, 1)}, "a=34,b=33,c=33"},
		{[]tm.Endpoint{ep("a", tm.Enabled, 1000), ep("b", tm.Enabled, 1)}, "a=100,b=0"},
		{[]tm.Endpoint{ep("a", tm.Disabled, 5), ep("b", tm.Disabled, 5)}, "a=0,b=0"},
	} {
		if got := traffic.Weights(tm.Shares(tc.eps)).String(); got != tc.want {
			t.Errorf("Shares(%v) = %s, want %s", tc.eps, got, tc.want)
		}
	}
}

// env is the emulator publishing profiles to a real gateway, with two
// backends that say who they are.
type env struct {
	arm, front string
	hits       map[string]string // backend → URL
}

func start(t *testing.T) *env {
	t.Helper()
	// Every request the provider sends, every answer the emulator gives,
	// is held to Azure's published Traffic Manager contract.
	arm, front := testfleet.AzureEdge(t, token, 100*time.Millisecond)
	e := &env{arm: arm, front: front, hits: map[string]string{}}
	for _, name := range []string{"blue", "green"} {
		b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Host != "web.example" {
				http.Error(w, "wrong host "+r.Host, http.StatusNotFound)
				return
			}
			fmt.Fprint(w, name)
		}))
		t.Cleanup(b.Close)
		e.hits[name] = b.URL
	}
	return e
}

// served sends n requests for host through the gateway and counts the
// answers by backend.
func (e *env) served(t *testing.T, host string, n int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for range n {
		req, _ := http.NewRequest(http.MethodGet, e.front+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s answered %d %s", host, resp.StatusCode, body)
		}
		out[string(body)]++
	}
	return out
}

// TestProfileThroughTheEmulator creates a profile as a route, moves its
// traffic in canary-sized steps and whole, and lowers and restores its
// TTL across a run cut short; what users reach through the gateway
// follows each change.
func TestProfileThroughTheEmulator(t *testing.T) {
	ctx := t.Context()
	e := start(t)
	p, err := tm.New(v1alpha1.TrafficManagerTraffic{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: "traffic-rg", ARMEndpoint: e.arm, TTL: 30, SwitchTTL: 5})
	if err != nil {
		t.Fatal(err)
	}
	const host = "shop.trafficmanager.net"
	if _, err := p.Route(ctx, host); err == nil || !strings.Contains(err.Error(), traffic.ErrNoRoute.Error()) {
		t.Fatalf("a missing profile: %v, want no route", err)
	}
	r := traffic.Route{Host: host, UpstreamHost: "web.example", Backends: []traffic.Backend{
		{Name: "blue", URL: e.hits["blue"], Weight: 100, HealthPath: "/"},
		{Name: "green", URL: e.hits["green"], Weight: 0, HealthPath: "/"},
	}}
	if err := p.ApplyRoute(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := p.Route(ctx, host)
	if err != nil || got.Weights().String() != "blue=100,green=0" || got.UpstreamHost != "web.example" || got.Backends[0].URL != e.hits["blue"] {
		t.Fatalf("the profile read back: %+v, %v", got, err)
	}
	if hits := e.served(t, host, 20); hits["blue"] != 20 {
		t.Fatalf("before any switch users reached %v, want blue only", hits)
	}

	// A canary step: 10% to green, as weights on enabled endpoints.
	if err := p.Switch(ctx, host, traffic.Weights{"blue": 90, "green": 10}); err != nil {
		t.Fatal(err)
	}
	if hits := e.served(t, host, 400); hits["green"] < 15 || hits["green"] > 80 {
		t.Fatalf("at 10%% green users reached %v", hits)
	}
	// The whole switch: blue is disabled (Traffic Manager has no weight 0).
	if err := p.Switch(ctx, host, traffic.Weights{"blue": 0, "green": 100}); err != nil {
		t.Fatal(err)
	}
	if hits := e.served(t, host, 20); hits["green"] != 20 {
		t.Fatalf("after the switch users reached %v, want green only", hits)
	}
	if w, err := p.Weights(ctx, host); err != nil || w.String() != "blue=0,green=100" {
		t.Fatalf("weights after the switch: %v, %v", w, err)
	}

	// TTL: lowered with the old one kept on the profile, so a second
	// lowering (a resumed run) still waits the old TTL out; restored once.
	for range 2 {
		if wait, err := p.LowerTTL(ctx, host); err != nil || wait != 30*time.Second {
			t.Fatalf("LowerTTL: %s, %v; want to wait out the profile's 30s", wait, err)
		}
	}
	if err := p.RestoreTTL(ctx, host); err != nil {
		t.Fatal(err)
	}
	if wait, err := p.LowerTTL(ctx, host); err != nil || wait != 30*time.Second {
		t.Fatalf("after the restore: %s, %v", wait, err)
	}
	if err := p.RestoreTTL(ctx, host); err != nil {
		t.Fatal(err)
	}

	// Retiring blue: the route without it deletes its endpoint.
	if err := p.ApplyRoute(ctx, traffic.Route{Host: host, UpstreamHost: "web.example", Backends: []traffic.Backend{{Name: "green", URL: e.hits["green"], Weight: 100}}}); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Route(ctx, host); err != nil || len(got.Backends) != 1 || got.Backends[0].Name != "green" {
		t.Fatalf("after blue left: %+v, %v", got, err)
	}
}

// TestBadTrafficManagerSetup: each mistake is one line that says what to
// fix, and nothing is changed.
func TestBadTrafficManagerSetup(t *testing.T) {
	ctx := t.Context()
	e := start(t)
	good := v1alpha1.TrafficManagerTraffic{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: "traffic-rg", ARMEndpoint: e.arm}
	spec := func(tmc *v1alpha1.TrafficManagerTraffic, cluster string) v1alpha1.TrafficSpec {
		return v1alpha1.TrafficSpec{Provider: tm.Type, TrafficManager: tmc,
			Hosts: v1alpha1.HostNames{Public: "web.example", Cluster: cluster, Blue: "b.trafficmanager.net", Green: "g.trafficmanager.net"}}
	}
	for _, tc := range []struct {
		spec v1alpha1.TrafficSpec
		want string
	}{
		{spec(nil, "c.trafficmanager.net"), "trafficManager (subscriptionID, resourceGroup) is required"},
		{spec(&good, "shop.example.com"), `hosts.cluster: "shop.example.com" is not a Traffic Manager profile's DNS name`},
		{spec(&v1alpha1.TrafficManagerTraffic{SubscriptionID: "s", ResourceGroup: "rg", ARMEndpoint: "http://arm.example.com"}, "c.trafficmanager.net"), "give an https:// address"},
	} {
		if _, err := tm.FromSpec(tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.spec, err, tc.want)
		}
	}

	wrongSub := good
	wrongSub.SubscriptionID = "11111111-2222-3333-4444-555555555555"
	p, err := tm.New(wrongSub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Weights(ctx, "c.trafficmanager.net"); err == nil || !strings.Contains(err.Error(), "404 SubscriptionNotFound") || strings.Contains(err.Error(), "RESPONSE") {
		t.Errorf("a wrong subscription: %v, want Azure's answer in one line", err)
	}

	p, err = tm.New(good)
	if err != nil {
		t.Fatal(err)
	}
	// Weights that do not add up, or name an endpoint the profile lacks.
	host := "c.trafficmanager.net"
	if err := p.ApplyRoute(ctx, traffic.Route{Host: host, Backends: []traffic.Backend{{Name: "blue", URL: e.hits["blue"], Weight: 100}}}); err != nil {
		t.Fatal(err)
	}
	if err := p.Switch(ctx, host, traffic.Weights{"blue": 50, "green": 40}); err == nil || !strings.Contains(err.Error(), "add up to 90") {
		t.Errorf("weights adding up to 90: %v", err)
	}
	if err := p.Switch(ctx, host, traffic.Weights{"blue": 0, "green": 100}); err == nil || !strings.Contains(err.Error(), "has no endpoint green") {
		t.Errorf("an endpoint the profile lacks: %v", err)
	}
	if w, err := p.Weights(ctx, host); err != nil || w.String() != "blue=100" {
		t.Errorf("after the refused switches: %v, %v; want blue=100 unchanged", w, err)
	}
}
