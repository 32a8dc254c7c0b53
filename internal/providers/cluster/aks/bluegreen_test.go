package aks_test

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/azurespec"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/providers/cluster/aks"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/providers/traffic"
	fd "upshift.dev/upshift/internal/providers/traffic/frontdoor"
	trafficgateway "upshift.dev/upshift/internal/providers/traffic/gateway"
	tm "upshift.dev/upshift/internal/providers/traffic/trafficmanager"
	"upshift.dev/upshift/internal/sampleapp"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
)

const gatewayToken = "test-gateway-admin-token-0123456789"

// bgEnv is a blue-green move's set-up through the Azure emulator: a
// gateway standing for what users go through (the resolvers of Traffic
// Manager, the edge of Front Door), the emulator publishing to it, and
// blue, an adopted managed cluster running the app.
type bgEnv struct {
	front, arm  string
	log         *testfleet.SyncBuffer
	p           *aks.Provider
	blue        string
	blueIngress string
}

const public = "web.example"

func bgSetup(t *testing.T, blue string) *bgEnv {
	t.Helper()
	ctx := t.Context()
	gwCfg := frontdoor.Config{Listen: testfleet.LoopbackAddr(t), AdminListen: testfleet.LoopbackAddr(t), HealthInterval: frontdoor.Duration{Duration: 200 * time.Millisecond}}
	testfleet.RunGateway(t, gwCfg, gatewayToken)
	emu := azureemu.New(testfleet.Fleet(t), "")
	log := &testfleet.SyncBuffer{}
	emu.Log = log
	emu.Gateway = trafficgateway.New("http://"+gwCfg.AdminListen, gatewayToken)
	srv := httptest.NewServer(azurespec.Hold(t, emu))
	t.Cleanup(func() { srv.Close(); emu.Close() })

	c, err := testfleet.Fleet(t).Up(ctx, localfleet.Spec{Name: blue, KubernetesVersion: lower.Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
	t.Cleanup(func() { _ = testfleet.Fleet(t).Down(blue); _ = testfleet.Fleet(t).Down(blue + "-g2") })
	if err != nil {
		t.Fatal(err)
	}
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	app := sampleapp.App{Namespace: "shop", Name: "web", Host: public, Replicas: 2, MinAvailable: 1}
	if err := app.Deploy(ctx, client); err != nil {
		t.Fatal(err)
	}
	if err := app.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := ingress.WaitServed(ctx, c.IngressURL(), public, 2, time.Minute); err != nil {
		t.Fatal(err)
	}
	p, err := aks.New(&v1alpha1.AKSCluster{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: azureemu.AdoptGroup, Name: blue, ARMEndpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	blueIngress, err := p.IngressURL(ctx, blue)
	if err != nil || blueIngress != c.IngressURL() {
		t.Fatalf("blue's ingress address from its LoadBalancer Service: %q, %v; want %s\n%s", blueIngress, err, c.IngressURL(), log)
	}
	return &bgEnv{front: "http://" + gwCfg.Listen, arm: srv.URL, log: log, p: p, blue: blue, blueIngress: blueIngress}
}

// move runs a blue-green move of blue through the traffic spec, in
// process, under load on the cluster name; no request may fail, and both
// sides must have served. It returns the run and what the run said.
func (e *bgEnv) move(t *testing.T, name string, traffic v1alpha1.TrafficSpec) (*v1alpha1.UpdateRun, []string) {
	t.Helper()
	ctx := t.Context()
	spec := &v1alpha1.BlueGreenSpec{
		Traffic: traffic,
		Sync:    v1alpha1.SyncSpec{Namespaces: []string{"shop"}},
		Validation: v1alpha1.BlueGreenValidation{
			Gates: []v1alpha1.GateSpec{{Name: "green-serves", Type: v1alpha1.GateHTTP, HTTP: &v1alpha1.HTTPGate{URL: "/", BodyContains: higher.Minor}}},
		},
		PostSwitch: v1alpha1.PostSwitchSpec{Window: &metav1.Duration{Duration: 3 * time.Second}},
	}
	home := t.TempDir()
	fleet := []v1alpha1.Cluster{{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "Cluster"},
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderAKS, AKS: &v1alpha1.AKSCluster{
			SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: azureemu.AdoptGroup, Name: e.blue, ARMEndpoint: e.arm}},
	}}
	var mu sync.Mutex
	var said []string
	eng := &engine.Engine{Store: &store.Store{Dir: home}, Fleet: fleet, Resolve: fleetmember.NewResolver(fleetmember.Env{Home: home}),
		Poll: 100 * time.Millisecond,
		Progress: func(ev engine.Event) {
			t.Logf("[%s %s] %s", ev.Cluster, ev.Step, ev.Message)
			mu.Lock()
			said = append(said, ev.Message)
			mu.Unlock()
		}}
	strategy := &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "prod", LabelSelector: &metav1.LabelSelector{}}}}
	run := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.UpdateRunSpec{
		Method: v1alpha1.MethodBlueGreen, BlueGreen: spec, Strategy: strategy,
		Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: higher.Minor}}}
	if _, err := eng.Initialize(ctx, run, strategy); err != nil {
		t.Fatal(err)
	}
	load := loadgen.Start(ctx, loadgen.Target{URL: e.front + "/", Host: traffic.Hosts.Cluster}, 4, 5*time.Millisecond)
	done, err := eng.Drive(ctx, name)
	stats := load.Stop()
	if err != nil {
		t.Fatalf("run: %v\n%s\nemulator:\n%s", err, testfleet.StatusOf(done), e.log)
	}
	t.Logf("load through the move: %s; by cluster %v", stats, stats.ByServer)
	if stats.Sent < 300 || stats.Failed != 0 {
		t.Fatalf("load: %s; errors %v; want hundreds of requests and none failed", stats, stats.Errors)
	}
	if stats.ByServer[e.blue] == 0 || stats.ByServer[e.blue+"-g2"] == 0 {
		t.Fatalf("requests by cluster %v: blue and green should both have served", stats.ByServer)
	}
	bg := done.Status.Stages[0].Clusters[0].BlueGreen
	if bg == nil || bg.Green != e.blue+"-g2" || bg.Switched == nil || bg.BlueDeleted == nil {
		t.Fatalf("blue-green status: %+v", bg)
	}
	// Green was made through Azure from blue: a managed cluster at the
	// target, backed by a local cluster; blue is gone from both.
	g, err := e.p.Get(ctx, e.blue+"-g2")
	if err != nil || g.KubernetesVersion != higher.Version || len(g.NodePools) != 1 || g.NodePools[0].Count != 2 {
		t.Fatalf("green through Azure: %+v, %v", g, err)
	}
	if _, err := testfleet.Fleet(t).Get(e.blue); err == nil {
		t.Error("blue's cluster still exists after T4")
	}
	if st, err := os.ReadFile(filepath.Join(home, "runs", name, "status.json")); err != nil || !strings.Contains(string(st), e.blue+"-g2") {
		t.Errorf("status.json: %v; want green named in it", err)
	}
	return done, said
}

// TestAKSBlueGreenWithTrafficManager moves a managed cluster to a new one
// at the next version, blue-green, through the Azure emulator: green is
// created from blue's ManagedCluster, each side's ingress address comes
// from its LoadBalancer Service, and Traffic Manager profiles carry the
// names. A gateway stands for the resolvers users go through, so the
// switch of the profile's endpoints is what users see. No request fails
// under load, the profile ends with green alone, enabled, its TTL back.
func TestAKSBlueGreenWithTrafficManager(t *testing.T) {
	ctx := t.Context()
	e := bgSetup(t, "tm-shop")
	names := v1alpha1.HostNames{Public: public, Cluster: "shop-prod.trafficmanager.net", Blue: "shop-blue.trafficmanager.net", Green: "shop-green.trafficmanager.net"}
	tmSpec := v1alpha1.TrafficManagerTraffic{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: "traffic-rg", ARMEndpoint: e.arm, TTL: 2, SwitchTTL: 1}
	profiles, err := tm.New(tmSpec)
	if err != nil {
		t.Fatal(err)
	}
	// The user's profile for the cluster name, on blue.
	if err := profiles.ApplyRoute(ctx, trafficRoute(names.Cluster, public, e.blue, e.blueIngress)); err != nil {
		t.Fatalf("the user's profile: %v\n%s", err, e.log)
	}
	if _, err := ingress.WaitServed(ctx, e.front, names.Cluster, 1, time.Minute); err != nil {
		t.Fatalf("the profile's name through the gateway: %v\n%s", err, e.log)
	}
	_, said := e.move(t, "tm-move", v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficTrafficManager, Hosts: names, URL: e.front, TrafficManager: &tmSpec})
	lowered := false
	for _, m := range said {
		lowered = lowered || strings.Contains(m, "TTL of shop-prod.trafficmanager.net lowered; waiting 2s")
	}
	if !lowered {
		t.Errorf("the profile's TTL was not lowered and waited out before the switch: %q", said)
	}
	// The profile holds green alone, enabled, with its TTL back and no
	// upshift tag left; the dedicated blue name points at the new blue.
	r, err := profiles.Route(ctx, names.Cluster)
	if err != nil || len(r.Backends) != 1 || r.Backends[0].Name != "tm-shop-g2" || r.Backends[0].Weight != 100 || r.UpstreamHost != public {
		t.Fatalf("profile of %s after the move: %+v, %v", names.Cluster, r, err)
	}
	if r, err := profiles.Route(ctx, names.Blue); err != nil || len(r.Backends) != 1 || r.Backends[0].Name != "tm-shop-g2" {
		t.Fatalf("profile of %s after the move: %+v, %v", names.Blue, r, err)
	}
	if wait, err := profiles.LowerTTL(ctx, names.Cluster); err != nil || wait != 2*time.Second {
		t.Errorf("the profile's TTL after the move: lowering it again would wait %s (%v), want the restored 2s", wait, err)
	}
	_ = profiles.RestoreTTL(ctx, names.Cluster)
}

// TestAKSBlueGreenWithFrontDoor does the same move through Azure Front
// Door: the names are origin groups of the user's profile, blue and
// green their origins; the gateway stands for Front Door's edge. No
// request fails under load; the cluster name's origin group ends with
// green alone, at full weight.
func TestAKSBlueGreenWithFrontDoor(t *testing.T) {
	ctx := t.Context()
	e := bgSetup(t, "fd-shop")
	names := v1alpha1.HostNames{Public: public, Cluster: "shop-prod" + fd.DNSSuffix, Blue: "shop-blue" + fd.DNSSuffix, Green: "shop-green" + fd.DNSSuffix}
	fdSpec := v1alpha1.FrontDoorTraffic{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: "edge-rg", Profile: "edge", ARMEndpoint: e.arm}
	// The user's profile, and the origin group of the cluster name on blue.
	testfleet.FrontDoorProfile(t, e.arm, "edge-rg", "edge")
	origins, err := fd.New(fdSpec)
	if err != nil {
		t.Fatal(err)
	}
	if err := origins.ApplyRoute(ctx, trafficRoute(names.Cluster, public, e.blue, e.blueIngress)); err != nil {
		t.Fatalf("the user's origin group: %v\n%s", err, e.log)
	}
	if _, err := ingress.WaitServed(ctx, e.front, names.Cluster, 1, time.Minute); err != nil {
		t.Fatalf("the cluster name through the edge: %v\n%s", err, e.log)
	}
	e.move(t, "fd-move", v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficFrontDoor, Hosts: names, URL: e.front, FrontDoor: &fdSpec})
	r, err := origins.Route(ctx, names.Cluster)
	if err != nil || len(r.Backends) != 1 || r.Backends[0].Name != "fd-shop-g2" || r.Backends[0].Weight != 100 || r.UpstreamHost != public {
		t.Fatalf("origin group of %s after the move: %+v, %v", names.Cluster, r, err)
	}
	if r, err := origins.Route(ctx, names.Blue); err != nil || len(r.Backends) != 1 || r.Backends[0].Name != "fd-shop-g2" {
		t.Fatalf("origin group of %s after the move: %+v, %v", names.Blue, r, err)
	}
}

func trafficRoute(host, public, name, url string) traffic.Route {
	return traffic.Route{Host: host, UpstreamHost: public, Backends: []traffic.Backend{{Name: name, URL: url, Weight: 100, HealthPath: "/"}}}
}
