package frontdoor_test

import (
	"strings"
	"testing"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/providers/traffic"
	fd "upshift.dev/upshift/internal/providers/traffic/frontdoor"
	"upshift.dev/upshift/internal/providers/traffic/traffictest"
	"upshift.dev/upshift/internal/testfleet"
)

const token = "test-gateway-admin-token-0123456789"

// env is the Azure emulator serving a Front Door profile, its edge played
// by a real gateway; every request and answer is held to Azure's
// published Front Door contract.
type env struct {
	arm, front string
}

func start(t *testing.T) *env {
	t.Helper()
	arm, front := testfleet.AzureEdge(t, token, 100*time.Millisecond)
	testfleet.FrontDoorProfile(t, arm, "edge-rg", "edge")
	return &env{arm: arm, front: front}
}

func (e *env) open(t *testing.T) traffic.Provider {
	t.Helper()
	p, err := fd.New(v1alpha1.FrontDoorTraffic{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: "edge-rg", Profile: "edge", ARMEndpoint: e.arm})
	if err != nil {
		t.Fatal(err)
	}
	p.Poll = 50 * time.Millisecond
	return p
}

// TestContract runs the traffic provider contract against the emulator's
// Front Door (Azure cannot be reached from here).
func TestContract(t *testing.T) {
	traffictest.Run(t, func(t *testing.T) traffictest.Front {
		e := start(t)
		blue, green, third := traffictest.Backends(t)
		const host = "app.azurefd.net"
		if err := e.open(t).(traffic.Router).ApplyRoute(t.Context(), traffic.Route{Host: host, Backends: []traffic.Backend{
			{Name: "blue", URL: blue, Weight: 100}, {Name: "green", URL: green, Weight: 0},
		}}); err != nil {
			t.Fatal(err)
		}
		return traffictest.Front{Open: e.open, Route: host, Split: true, Blue: blue, Green: green, Third: third}
	})
}

// TestMoveUnderLoad moves a name from blue to green through Front Door's
// origins, 90/10 then 0/100, while users keep sending requests through
// the edge: none fails, green takes its share, then all of it.
func TestMoveUnderLoad(t *testing.T) {
	ctx := t.Context()
	e := start(t)
	blue, green, _ := traffictest.Backends(t)
	const host = "shop.azurefd.net"
	p := e.open(t)
	if err := p.(traffic.Router).ApplyRoute(ctx, traffic.Route{Host: host, Backends: []traffic.Backend{
		{Name: "blue", URL: blue, Weight: 100}, {Name: "green", URL: green, Weight: 0},
	}}); err != nil {
		t.Fatal(err)
	}
	load := loadgen.Start(ctx, loadgen.Target{URL: e.front + "/", Host: host}, 4, 2*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	if err := p.Switch(ctx, host, traffic.Weights{"blue": 90, "green": 10}); err != nil {
		load.Stop()
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	split := load.Snapshot()
	if err := p.Switch(ctx, host, traffic.Weights{"blue": 0, "green": 100}); err != nil {
		load.Stop()
		t.Fatal(err)
	}
	moved := load.Snapshot()
	time.Sleep(500 * time.Millisecond)
	stats := load.Stop()
	t.Logf("load through the move: %s; by backend %v", stats, stats.ByServer)
	if stats.Failed != 0 || stats.Sent < 300 {
		t.Fatalf("load: %s, errors %v; want hundreds of requests and none failed", stats, stats.Errors)
	}
	if g := split.ByServer["green"]; g == 0 || g*4 > split.Sent {
		t.Errorf("at 90/10 green answered %d of %d requests", g, split.Sent)
	}
	if late := stats.ByServer["blue"] - moved.ByServer["blue"]; late > 4 {
		t.Errorf("blue answered %d requests after the switch to green", late)
	}
}

// TestBadConfiguration: what is missing or wrong is said in one line that
// names the field, and nothing is sent.
func TestBadConfiguration(t *testing.T) {
	ok := v1alpha1.FrontDoorTraffic{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: "edge-rg", Profile: "edge", ARMEndpoint: "http://127.0.0.1:1"}
	for _, tc := range []struct {
		edit func(*v1alpha1.TrafficSpec)
		want string
	}{
		{func(s *v1alpha1.TrafficSpec) { s.FrontDoor = nil }, "spec.blueGreen.traffic.frontDoor (subscriptionID, resourceGroup, profile) is required"},
		{func(s *v1alpha1.TrafficSpec) { s.FrontDoor.Profile = "" }, "spec.blueGreen.traffic.frontDoor.profile"},
		{func(s *v1alpha1.TrafficSpec) {
			s.FrontDoor.OriginGroups = map[string]string{"shop.example.com": "shop_group"}
		}, `originGroups[shop.example.com]: "shop_group" is not an origin group name`},
		{func(s *v1alpha1.TrafficSpec) { s.Hosts.Cluster = "_shop.example.com" }, "spec.blueGreen.traffic.hosts.cluster"},
		{func(s *v1alpha1.TrafficSpec) { s.FrontDoor.ARMEndpoint = "http://10.0.0.1:8443" }, "spec.blueGreen.traffic.frontDoor.armEndpoint"},
	} {
		fdSpec := ok
		spec := v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficFrontDoor, Hosts: v1alpha1.HostNames{Cluster: "shop.example.com", Blue: "shop-blue.example.com", Green: "shop-green.example.com"}, FrontDoor: &fdSpec}
		tc.edit(&spec)
		if _, err := fd.FromSpec(spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v, want %q", err, tc.want)
		}
	}
}
