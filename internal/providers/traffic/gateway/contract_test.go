package gateway_test

import (
	"testing"
	"time"

	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/providers/traffic"
	"upshift.dev/upshift/internal/providers/traffic/gateway"
	"upshift.dev/upshift/internal/providers/traffic/traffictest"
	"upshift.dev/upshift/internal/testfleet"
)

const token = "gateway-contract-token-0123456789"

// TestContract runs the traffic provider contract against upshift's own
// gateway, started in this process as `upshift gateway` would.
func TestContract(t *testing.T) {
	traffictest.Run(t, func(t *testing.T) traffictest.Front {
		blue, green, third := traffictest.Backends(t)
		cfg := frontdoor.Config{
			Listen: testfleet.LoopbackAddr(t), AdminListen: testfleet.LoopbackAddr(t),
			HealthInterval: frontdoor.Duration{Duration: 200 * time.Millisecond},
			Routes: []frontdoor.Route{{Host: "app.upshift.test", Backends: []frontdoor.Backend{
				{Name: "blue", URL: blue, Weight: 100}, {Name: "green", URL: green, Weight: 0},
			}}},
		}
		testfleet.RunGateway(t, cfg, token)
		admin := "http://" + cfg.AdminListen
		return traffictest.Front{
			Open:  func(*testing.T) traffic.Provider { return gateway.New(admin, token) },
			Route: "app.upshift.test", Split: true, Blue: blue, Green: green, Third: third,
		}
	})
}
