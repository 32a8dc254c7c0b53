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
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/providers/cluster/aks"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/providers/traffic"
	trafficgateway "upshift.dev/upshift/internal/providers/traffic/gateway"
	tm "upshift.dev/upshift/internal/providers/traffic/trafficmanager"
	"upshift.dev/upshift/internal/sampleapp"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
)

const gatewayToken = "test-gateway-admin-token-0123456789"

// TestAKSBlueGreenWithTrafficManager moves a managed cluster to a new one
// at the next version, blue-green, through the Azure emulator: green is
// created from blue's ManagedCluster, each side's ingress address comes
// from its LoadBalancer Service, and Traffic Manager profiles carry the
// names. A gateway stands for the resolvers users go through, so the
// switch of the profile's endpoints is what users see. No request fails
// under load, the profile ends with green alone, enabled, its TTL back.
func TestAKSBlueGreenWithTrafficManager(t *testing.T) {
	ctx := t.Context()
	const public = "web.example"
	names := v1alpha1.HostNames{Public: public, Cluster: "shop-prod.trafficmanager.net", Blue: "shop-blue.trafficmanager.net", Green: "shop-green.trafficmanager.net"}

	// The gateway (no routes yet) and the emulator that publishes the
	// profiles to it.
	gwCfg := frontdoor.Config{Listen: testfleet.LoopbackAddr(t), AdminListen: testfleet.LoopbackAddr(t), HealthInterval: frontdoor.Duration{Duration: 200 * time.Millisecond}}
	testfleet.RunGateway(t, gwCfg, gatewayToken)
	front := "http://" + gwCfg.Listen
	emu := azureemu.New(testfleet.Fleet(t), "")
	log := &testfleet.SyncBuffer{}
	emu.Log = log
	emu.Gateway = trafficgateway.New("http://"+gwCfg.AdminListen, gatewayToken)
	srv := httptest.NewServer(emu)
	t.Cleanup(func() { srv.Close(); emu.Close() })

	// Blue: a local cluster, adopted by the emulator, running the app.
	blue, err := testfleet.Fleet(t).Up(ctx, localfleet.Spec{Name: "tm-shop", KubernetesVersion: lower.Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
	t.Cleanup(func() { _ = testfleet.Fleet(t).Down("tm-shop"); _ = testfleet.Fleet(t).Down("tm-shop-g2") })
	if err != nil {
		t.Fatal(err)
	}
	client, err := blue.Client()
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
	if _, err := ingress.WaitServed(ctx, blue.IngressURL(), public, 2, time.Minute); err != nil {
		t.Fatal(err)
	}
	p, err := aks.New(&v1alpha1.AKSCluster{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: azureemu.AdoptGroup, Name: "tm-shop", ARMEndpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	blueIngress, err := p.IngressURL(ctx, "tm-shop")
	if err != nil || blueIngress != blue.IngressURL() {
		t.Fatalf("blue's ingress address from its LoadBalancer Service: %q, %v; want %s\n%s", blueIngress, err, blue.IngressURL(), log)
	}

	// The user's profile for the cluster name, on blue.
	spec := &v1alpha1.BlueGreenSpec{
		Traffic: v1alpha1.TrafficSpec{
			Provider: v1alpha1.TrafficTrafficManager, Hosts: names, URL: front,
			TrafficManager: &v1alpha1.TrafficManagerTraffic{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: "traffic-rg", ARMEndpoint: srv.URL, TTL: 2, SwitchTTL: 1},
		},
		Sync: v1alpha1.SyncSpec{Namespaces: []string{"shop"}},
		Validation: v1alpha1.BlueGreenValidation{
			Gates: []v1alpha1.GateSpec{{Name: "green-serves", Type: v1alpha1.GateHTTP, HTTP: &v1alpha1.HTTPGate{URL: "/", BodyContains: higher.Minor}}},
		},
		PostSwitch: v1alpha1.PostSwitchSpec{Window: &metav1.Duration{Duration: 3 * time.Second}},
	}
	profiles, err := tm.New(*spec.Traffic.TrafficManager)
	if err != nil {
		t.Fatal(err)
	}
	if err := profiles.ApplyRoute(ctx, trafficRoute(names.Cluster, public, "tm-shop", blueIngress)); err != nil {
		t.Fatalf("the user's profile: %v\n%s", err, log)
	}
	if _, err := ingress.WaitServed(ctx, front, names.Cluster, 1, time.Minute); err != nil {
		t.Fatalf("the profile's name through the gateway: %v\n%s", err, log)
	}

	// The run: one aks cluster, method BlueGreen, in-process.
	home := t.TempDir()
	fleet := []v1alpha1.Cluster{{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "Cluster"},
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderAKS, AKS: &v1alpha1.AKSCluster{
			SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: azureemu.AdoptGroup, Name: "tm-shop", ARMEndpoint: srv.URL}},
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
	run := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "tm-move"}, Spec: v1alpha1.UpdateRunSpec{
		Method: v1alpha1.MethodBlueGreen, BlueGreen: spec, Strategy: strategy,
		Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: higher.Minor}}}
	if _, err := eng.Initialize(ctx, run, strategy); err != nil {
		t.Fatal(err)
	}
	load := loadgen.Start(ctx, loadgen.Target{URL: front + "/", Host: names.Cluster}, 4, 5*time.Millisecond)
	done, err := eng.Drive(ctx, "tm-move")
	stats := load.Stop()
	if err != nil {
		t.Fatalf("run: %v\n%s\nemulator:\n%s", err, testfleet.StatusOf(done), log)
	}
	t.Logf("load through the move: %s; by cluster %v", stats, stats.ByServer)
	if stats.Sent < 300 || stats.Failed != 0 {
		t.Fatalf("load: %s; errors %v; want hundreds of requests and none failed", stats, stats.Errors)
	}
	if stats.ByServer["tm-shop"] == 0 || stats.ByServer["tm-shop-g2"] == 0 {
		t.Fatalf("requests by cluster %v: blue and green should both have served", stats.ByServer)
	}
	bg := done.Status.Stages[0].Clusters[0].BlueGreen
	if bg == nil || bg.Green != "tm-shop-g2" || bg.Switched == nil || bg.BlueDeleted == nil {
		t.Fatalf("blue-green status: %+v", bg)
	}
	lowered := false
	for _, m := range said {
		lowered = lowered || strings.Contains(m, "TTL of shop-prod.trafficmanager.net lowered; waiting 2s")
	}
	if !lowered {
		t.Errorf("the profile's TTL was not lowered and waited out before the switch: %q", said)
	}

	// Green was made through Azure from blue: a managed cluster at the
	// target, backed by a local cluster; blue is gone from both.
	g, err := p.Get(ctx, "tm-shop-g2")
	if err != nil || g.KubernetesVersion != higher.Version || len(g.NodePools) != 1 || g.NodePools[0].Count != 2 {
		t.Fatalf("green through Azure: %+v, %v", g, err)
	}
	if _, err := testfleet.Fleet(t).Get("tm-shop"); err == nil {
		t.Error("blue's cluster still exists after T4")
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
	if st, err := os.ReadFile(filepath.Join(home, "runs", "tm-move", "status.json")); err != nil || !strings.Contains(string(st), "tm-shop-g2") {
		t.Errorf("status.json: %v; want green named in it", err)
	}
}

func trafficRoute(host, public, name, url string) traffic.Route {
	return traffic.Route{Host: host, UpstreamHost: public, Backends: []traffic.Backend{{Name: name, URL: url, Weight: 100, HealthPath: "/"}}}
}
