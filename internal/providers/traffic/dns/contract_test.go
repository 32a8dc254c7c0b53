package dns_test

import (
	"testing"

	"upshift.dev/upshift/internal/providers/traffic"
	updns "upshift.dev/upshift/internal/providers/traffic/dns"
	"upshift.dev/upshift/internal/providers/traffic/traffictest"
	"upshift.dev/upshift/internal/testdns"
)

// TestContract runs the traffic provider contract against BIND: DNS
// cannot split, so 90/10 must be refused and change nothing.
func TestContract(t *testing.T) {
	traffictest.Run(t, func(t *testing.T) traffictest.Front {
		addr, secret := testdns.StartBIND(t, 300)
		cfg := updns.Config{Server: addr, Zone: "example.test", KeyName: "upshift-key", KeySecret: secret, TTL: 300, SwitchTTL: 30,
			Targets: map[string]updns.Target{"blue": targets["blue"], "green": targets["green"]}}
		return traffictest.Front{
			Open: func(t *testing.T) traffic.Provider {
				p, err := updns.New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				return p
			},
			Route: "aks.example.test",
		}
	})
}
