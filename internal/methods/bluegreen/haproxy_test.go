package bluegreen_test

import (
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/methods/bluegreen"
	"upshift.dev/upshift/internal/providers/traffic"
	"upshift.dev/upshift/internal/providers/traffic/haproxy"
	"upshift.dev/upshift/internal/testfleet"
)

// moveUnderLoad moves the env's blue to green through T0–T4 with the
// spec while users send requests to the public name through the env's
// front door: none fails, both clusters serve, and blue is destroyed.
func moveUnderLoad(t *testing.T, e *env, name string, spec *v1alpha1.BlueGreenSpec) {
	t.Helper()
	ctx := t.Context()
	spec.BlueSoak = &metav1.Duration{Duration: 2 * time.Second}
	eng, _ := e.newRun(t, name, spec, nil)
	load := loadgen.Start(ctx, loadgen.Target{URL: e.front + "/", Host: hosts.Public}, 6, 5*time.Millisecond)
	run, err := eng.Drive(ctx, name)
	stats := load.Stop()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, testfleet.StatusOf(run))
	}
	t.Logf("load through the switch: %s; by cluster %v", stats, stats.ByServer)
	if stats.Sent < 500 || stats.Failed != 0 {
		t.Fatalf("load: %s; errors %v; want hundreds of requests and none failed", stats, stats.Errors)
	}
	blue, green := e.blue.Name, bluegreen.GreenName(e.blue.Name)
	if stats.ByServer[blue] == 0 || stats.ByServer[green] == 0 {
		t.Fatalf("requests by cluster %v: both blue and green should have served", stats.ByServer)
	}
	if bg := run.Status.Stages[0].Clusters[0].BlueGreen; bg.Green != green || bg.BlueDeleted == nil {
		t.Fatalf("blue-green status: %+v", bg)
	}
}

// TestBlueGreenThroughHAProxy moves a cluster through T0–T4 behind a real
// HAProxy, driven through its runtime API, while clients use the public
// name: no request fails, green gets the names, blue leaves them, and the
// configuration file says so, so that a reload after the move keeps it.
func TestBlueGreenThroughHAProxy(t *testing.T) {
	ctx := t.Context()
	blue := upBlue(t, "ha", hosts.Public)
	u, err := url.Parse(blue.IngressURL())
	if err != nil {
		t.Fatal(err)
	}
	h := testfleet.HAProxyForNames(t, hosts, "ha", u.Host)
	front := "http://" + h.Listen
	if _, err := ingress.WaitServed(ctx, front, hosts.Public, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	e := &env{blue: blue, dir: t.TempDir(), front: front}
	spec := e.spec()
	spec.Traffic.Provider, spec.Traffic.Gateway = v1alpha1.TrafficHAProxy, nil
	spec.Traffic.HAProxy = &v1alpha1.HAProxyTraffic{RuntimeAPI: h.Socket, ConfigFile: h.Config, ServerOptions: "check inter 300ms"}
	moveUnderLoad(t, e, "bg-haproxy", spec)
	// A reload after the move keeps it: the names are green's alone.
	h.Reload(t)
	p, err := haproxy.FromSpec(spec.Traffic)
	if err != nil {
		t.Fatal(err)
	}
	router := p.(traffic.Router)
	for _, host := range []string{hosts.Cluster, hosts.Blue, hosts.Green} {
		r, err := router.Route(ctx, host)
		if err != nil || len(r.Backends) != 1 || r.Backends[0].Name != "ha-g2" || r.Backends[0].Weight != 100 {
			t.Errorf("after a reload %s is %+v (%v), want ha-g2 alone", host, r.Backends, err)
		}
	}
	conf, _ := os.ReadFile(h.Config)
	if strings.Contains(string(conf), "server ha ") {
		t.Errorf("blue is still in HAProxy's configuration:\n%s", conf)
	}
	after := loadgen.Start(ctx, loadgen.Target{URL: front + "/", Host: hosts.Public}, 2, 5*time.Millisecond)
	time.Sleep(time.Second)
	if s := after.Stop(); s.Failed != 0 || s.ByServer["ha-g2"] != s.Sent {
		t.Fatalf("after the reload: %s by %v; want every request answered by green", s, s.ByServer)
	}
}
