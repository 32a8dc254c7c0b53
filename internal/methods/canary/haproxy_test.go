package canary_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/testfleet"
)

// TestCanaryThroughHAProxy adopts the target version step by step behind
// a real HAProxy, driven through its runtime API, while users keep using
// the public name: green takes 25% of them, then all; no request fails,
// and blue leaves HAProxy and its configuration.
func TestCanaryThroughHAProxy(t *testing.T) {
	ctx := t.Context()
	e := setup(t, "hx", nil)
	u, err := url.Parse(e.blue.IngressURL())
	if err != nil {
		t.Fatal(err)
	}
	h := testfleet.HAProxyForNames(t, hosts, "hx", u.Host)
	e.front = "http://" + h.Listen
	if _, err := ingress.WaitServed(ctx, e.front, hosts.Public, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	e.traffic = v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficHAProxy, Hosts: hosts, URL: e.front,
		HAProxy: &v1alpha1.HAProxyTraffic{RuntimeAPI: h.Socket, ConfigFile: h.Config, ServerOptions: "check inter 300ms"}}
	eng := e.run(t, "canary-haproxy", []v1alpha1.CanaryStep{{Weight: 25, Pause: pause(4 * time.Second)}, {Weight: 100, Pause: pause(2 * time.Second)}}, nil)
	users := e.users(t)
	var at25, at100 loadgen.Stats
	e.onEvent = func(ev engine.Event) {
		switch {
		case strings.HasPrefix(ev.Message, "step 1 of 2"):
			at25 = users.Snapshot()
		case strings.HasPrefix(ev.Message, "step 2 of 2"):
			at100 = users.Snapshot()
		}
	}
	final, err := eng.Drive(ctx, "canary-haproxy")
	stats := users.Stop()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, testfleet.StatusOf(final))
	}
	t.Logf("users through the canary: %s; by cluster %v", stats, stats.ByServer)
	if stats.Failed != 0 || stats.Sent < 200 {
		t.Fatalf("users: %s (%v); want hundreds of requests and none failed", stats, stats.Errors)
	}
	if stats.ByServer["hx"] == 0 || stats.ByServer["hx-g2"] == 0 {
		t.Fatalf("requests by cluster %v: both blue and green should have served", stats.ByServer)
	}
	// While the first step held, green answered about a quarter of users.
	sent := at100.Sent - at25.Sent
	green := at100.ByServer["hx-g2"] - at25.ByServer["hx-g2"]
	t.Logf("during the 25%% step green answered %d of %d requests", green, sent)
	if sent < 100 || green*100 < sent*10 || green*100 > sent*40 {
		t.Errorf("during the 25%% step green answered %d of %d requests", green, sent)
	}
	state := h.Command(t, "show servers state "+hosts.Cluster)
	if strings.Contains(state, " hx ") || !strings.Contains(state, " hx-g2 ") {
		t.Errorf("after the canary HAProxy runs:\n%s\nwant hx-g2 alone", state)
	}
}
