package haproxy_test

import (
	"fmt"
	"net/url"
	"testing"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/providers/traffic"
	"upshift.dev/upshift/internal/providers/traffic/haproxy"
	"upshift.dev/upshift/internal/providers/traffic/traffictest"
	"upshift.dev/upshift/internal/testfleet"
)

const route = "app.upshift.test"

// startFront runs Debian's HAProxy with the route's backend holding blue
// (all the weight) and green (none), as a user's configuration would.
func startFront(t *testing.T, blue, green string) *testfleet.HAProxyRuntime {
	return testfleet.StartHAProxyRuntime(t, func(listen string) string {
		return fmt.Sprintf(`frontend fe
  bind %s
  use_backend %%[req.hdr(host),lower,field(1,:)]
backend %s
  balance roundrobin
  server blue %s weight 100 # the cluster users are on
  server green %s weight 0
backend green.upshift.test
`, listen, route, hostPort(t, blue), hostPort(t, green))
	})
}

func hostPort(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func open(t *testing.T, h *testfleet.HAProxyRuntime, persist bool) traffic.Provider {
	spec := &v1alpha1.HAProxyTraffic{RuntimeAPI: h.Socket}
	if persist {
		spec.ConfigFile = h.Config
	}
	p, err := haproxy.FromSpec(v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficHAProxy, HAProxy: spec})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestContract(t *testing.T) {
	traffictest.Run(t, func(t *testing.T) traffictest.Front {
		blue, green, third := traffictest.Backends(t)
		h := startFront(t, blue, green)
		return traffictest.Front{
			Open:  func(t *testing.T) traffic.Provider { return open(t, h, true) },
			Route: route, Split: true, Blue: blue, Green: green, Third: third,
		}
	})
}
