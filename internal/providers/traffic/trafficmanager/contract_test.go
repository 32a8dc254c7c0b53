package trafficmanager_test

import (
	"testing"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/providers/traffic"
	tm "upshift.dev/upshift/internal/providers/traffic/trafficmanager"
	"upshift.dev/upshift/internal/providers/traffic/traffictest"
)

// TestContract runs the traffic provider contract against the Azure
// emulator's Traffic Manager (Azure cannot be reached from here).
func TestContract(t *testing.T) {
	traffictest.Run(t, func(t *testing.T) traffictest.Front {
		e := start(t)
		blue, green, third := traffictest.Backends(t)
		open := func(t *testing.T) traffic.Provider {
			p, err := tm.New(v1alpha1.TrafficManagerTraffic{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: "traffic-rg", ARMEndpoint: e.arm, TTL: 30, SwitchTTL: 5})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		const host = "app.trafficmanager.net"
		if err := open(t).(traffic.Router).ApplyRoute(t.Context(), traffic.Route{Host: host, Backends: []traffic.Backend{
			{Name: "blue", URL: blue, Weight: 100}, {Name: "green", URL: green, Weight: 0},
		}}); err != nil {
			t.Fatal(err)
		}
		return traffictest.Front{Open: open, Route: host, Split: true, Blue: blue, Green: green, Third: third}
	})
}
