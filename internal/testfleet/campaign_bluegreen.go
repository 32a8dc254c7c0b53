package testfleet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/freeze"
	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/providers/traffic/gateway"
	"upshift.dev/upshift/internal/sampleapp"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/toolchain"
)

// BlueGreenCrashCampaign runs rounds of: a fresh blue cluster one minor
// below the latest serving the sample app behind a gateway, clients using
// the public name all along; `upshift bluegreen` moving it to the latest
// (T0 baseline, T1 green built, T2 state synced under a freeze, T3 switch
// and post-switch watch, T4 blue retired), SIGKILLed at a moment drawn
// uniformly from [0, window); `upshift resume` to the end. Every round
// must end right: the run Completed, exactly one green and it the first
// (NAME-g2: green never built twice), blue gone, the route all on green,
// no freeze left, the app's replicas Ready on green, and not one request
// failed.
func BlueGreenCrashCampaign(t testing.TB, rounds int, window time.Duration) []CrashRound {
	t.Helper()
	return campaign(t, "blue-green", "bgcrash", rounds, window, blueGreenRound)
}

func blueGreenRound(t testing.TB, name string, at time.Duration) CrashRound {
	t.Helper()
	ctx := t.Context()
	f := Fleet(t)
	public, clusterHost := name+".example", name+".cluster.example"
	blue, err := f.Up(ctx, localfleet.Spec{Name: name, KubernetesVersion: toolchain.Previous().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
	if err != nil {
		t.Fatalf("local up %s: %v", name, err)
	}
	green := name + "-g2"
	// Each round's clusters go when the round ends: a long campaign holds
	// two at a time.
	defer func() {
		clusters, _ := f.Clusters()
		for _, c := range clusters {
			if c.Name == name || strings.HasPrefix(c.Name, name+"-g") {
				_ = f.Down(c.Name)
			}
		}
	}()
	app := sampleapp.App{Namespace: "shop", Name: "web", Host: public, Replicas: 2, MinAvailable: 1}
	Serve(t, blue, app)

	// The front door: everything to blue.
	const token = "campaign-admin-token"
	dir := t.TempDir()
	cfg := frontdoor.Config{
		Listen: LoopbackAddr(t), AdminListen: LoopbackAddr(t),
		HealthInterval: frontdoor.Duration{Duration: 200 * time.Millisecond},
		Routes: []frontdoor.Route{{Host: clusterHost, Aliases: []string{public}, UpstreamHost: public,
			Backends: []frontdoor.Backend{{Name: name, URL: blue.IngressURL(), Weight: 100}}}},
	}
	_, stopGW := StartGateway(t, cfg, token)
	defer stopGW()
	front, admin := "http://"+cfg.Listen, "http://"+cfg.AdminListen
	spec := v1alpha1.BlueGreenSpec{
		Traffic: v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficGateway, URL: front,
			Hosts:   v1alpha1.HostNames{Public: public, Cluster: clusterHost, Blue: name + "-blue.example", Green: name + "-green.example"},
			Gateway: &v1alpha1.GatewayTraffic{AdminURL: admin, TokenFile: filepath.Join(dir, "token")}},
		Sync:       v1alpha1.SyncSpec{Namespaces: []string{"shop"}},
		Freeze:     v1alpha1.FreezeSpec{ServiceAccounts: []string{"shop/deployer"}},
		Validation: v1alpha1.BlueGreenValidation{Gates: []v1alpha1.GateSpec{{Name: "green-serves", Type: v1alpha1.GateHTTP, HTTP: &v1alpha1.HTTPGate{URL: "/", BodyContains: toolchain.Latest().Minor}}}},
		PostSwitch: v1alpha1.PostSwitchSpec{Window: &metav1.Duration{Duration: 2 * time.Second}},
	}
	data, err := yaml.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	specFile := filepath.Join(dir, "bluegreen.yaml")
	for path, content := range map[string][]byte{specFile: data, filepath.Join(dir, "token"): []byte(token + "\n")} {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := ingress.WaitServed(ctx, front, public, 1, time.Minute); err != nil {
		t.Fatalf("the gateway does not serve %s: %v", public, err)
	}
	load := loadgen.Start(ctx, loadgen.Target{URL: front + "/", Host: public}, 4, 5*time.Millisecond)
	runs := &store.Store{Dir: f.Home}
	round := killAndResume(t, name, at, runs, "bluegreen", name, "--to", toolchain.Latest().Minor, "-f", specFile, "--name", name, "--home", f.Home)
	stats := load.Stop()
	where := fmt.Sprintf("round %s (killed at %s, in %q)", name, at.Round(time.Millisecond), round.Step)

	run, err := runs.Get(name)
	if err != nil || run.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("%s: the run is not Completed: %v\n%s", where, err, StatusOf(run))
	}
	if stats.Failed != 0 {
		t.Errorf("%s: %s through the public name; first errors: %v", where, stats, stats.Errors)
	}
	clusters, err := f.Clusters()
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, c := range clusters {
		if c.Name == name || strings.HasPrefix(c.Name, name+"-g") {
			left = append(left, c.Name)
		}
	}
	if strings.Join(left, ",") != green {
		t.Errorf("%s: clusters after the move %v, want only %s (blue retired, green built once)", where, left, green)
	}
	route, err := gateway.New(admin, token).Route(ctx, clusterHost)
	if err != nil || len(route.Backends) != 1 || route.Backends[0].Name != green || route.Backends[0].Weight != 100 {
		t.Errorf("%s: route %+v (%v), want all on %s", where, route, err, green)
	}
	g, err := f.Get(green)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	cfgGreen, err := g.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(cfgGreen)
	if active, err := freeze.Active(ctx, client); err != nil || len(active) != 0 {
		t.Errorf("%s: freezes left on green: %v (%v)", where, active, err)
	}
	if n, err := app.ReadyPods(ctx, client); err != nil || n != int(app.Replicas) {
		t.Errorf("%s: %d of the app's pods Ready on green (%v), want %d", where, n, err, app.Replicas)
	}
	return round
}
