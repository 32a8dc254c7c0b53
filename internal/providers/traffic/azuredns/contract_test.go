package azuredns_test

import (
	"testing"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/providers/traffic"
	"upshift.dev/upshift/internal/providers/traffic/azuredns"
	"upshift.dev/upshift/internal/providers/traffic/traffictest"
)

// TestContract runs the traffic provider contract against the Azure
// emulator's DNS zones: DNS cannot split, so 90/10 must be refused and
// change nothing; a switch from A records to a CNAME and back is one
// record set each way.
func TestContract(t *testing.T) {
	traffictest.Run(t, func(t *testing.T) traffictest.Front {
		cfg := config(emulator(t))
		cfg.Targets = map[string]v1alpha1.DNSTarget{"blue": {A: []string{"10.0.0.10"}}, "green": {CNAME: "green-ingress.example.net"}}
		open := func(t *testing.T) traffic.Provider {
			p, err := azuredns.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		const host = "shop.example.test"
		if err := open(t).Switch(t.Context(), host, traffic.Weights{"blue": 100, "green": 0}); err != nil {
			t.Fatal(err)
		}
		return traffictest.Front{Open: open, Route: host}
	})
}
