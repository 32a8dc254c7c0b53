package hub_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/localfleet"
	trafficgateway "upshift.dev/upshift/internal/providers/traffic/gateway"
	"upshift.dev/upshift/internal/sampleapp"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

// TestHubFailoverMidSwitch SIGKILLs the leading hub replica in a
// blue-green move's post-switch window, after the cluster name went to
// green, while clients keep using the public name through the gateway.
// The standby takes the run over, watches green again, retires blue and
// points the member's Cluster object at green. No request fails, green
// is built once and blue retired once.
func TestHubFailoverMidSwitch(t *testing.T) {
	const token = "hub-bluegreen-token-0123456789"
	hosts := v1alpha1.HostNames{Public: "shop.example.com", Cluster: "web.example.com", Blue: "web-blue.example.com", Green: "web-green.example.com"}
	kubeconfig, _, c := upHub(t, "bg-hub")
	ctx := t.Context()
	f := testfleet.Fleet(t)
	// Blue is retired by the run, and green takes its place.
	t.Cleanup(func() { _ = f.Down("web"); _ = f.Down("web-g2") })
	blue, err := f.Up(ctx, localfleet.Spec{Name: "web", KubernetesVersion: toolchain.Previous().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	testfleet.Serve(t, blue, sampleapp.App{Namespace: "shop", Name: "web", Host: hosts.Public, Replicas: 2, MinAvailable: 1})

	// The gateway's admin token reaches the hub as a labelled Secret: a
	// hub reads no files of its pod for a run.
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gateway-admin", Namespace: "default", Labels: map[string]string{v1alpha1.LabelTrafficCredentials: "true"}},
		Data: map[string][]byte{"token": []byte(token + "\n")}}); err != nil {
		t.Fatal(err)
	}
	gw := frontdoor.Config{
		Listen: testfleet.LoopbackAddr(t), AdminListen: testfleet.LoopbackAddr(t),
		HealthInterval: frontdoor.Duration{Duration: 200 * time.Millisecond},
		Routes: []frontdoor.Route{{Host: hosts.Cluster, Aliases: []string{hosts.Public}, UpstreamHost: hosts.Public,
			Backends: []frontdoor.Backend{{Name: "web", URL: blue.IngressURL(), Weight: 100}}}},
	}
	testfleet.RunGateway(t, gw, token)
	front, admin := "http://"+gw.Listen, "http://"+gw.AdminListen
	if _, err := ingress.WaitServed(ctx, front, hosts.Public, 1, time.Minute); err != nil {
		t.Fatal(err)
	}

	replicas := []*replica{startReplica(t, kubeconfig, "replica-a"), startReplica(t, kubeconfig, "replica-b")}
	waitFor(t, "a leader", replicas, func() bool { return holder(c, t, "default", "upshift-hub") != "" })
	for _, o := range []client.Object{
		&v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: "web"}, Group: "prod"}},
		&v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "move", Namespace: "default"},
			Spec: v1alpha1.UpdateRunSpec{Method: v1alpha1.MethodBlueGreen,
				Strategy: &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "prod", Groups: []v1alpha1.GroupRef{{Name: "prod"}}}}},
				Upgrade:  v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: toolchain.Latest().Minor},
				BlueGreen: &v1alpha1.BlueGreenSpec{
					Traffic: v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficGateway, Hosts: hosts, URL: front,
						Gateway: &v1alpha1.GatewayTraffic{AdminURL: admin, TokenSecretRef: &v1alpha1.SecretKeyRef{Name: "gateway-admin"}}},
					Sync:       v1alpha1.SyncSpec{Namespaces: []string{"shop"}},
					PostSwitch: v1alpha1.PostSwitchSpec{Window: &metav1.Duration{Duration: 10 * time.Second}},
					BlueSoak:   &metav1.Duration{Duration: time.Second},
				}}},
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	load := loadgen.Start(ctx, loadgen.Target{URL: front + "/", Host: hosts.Public}, 4, 5*time.Millisecond)
	st := &hubstore.Store{Client: c, Namespace: "default"}
	moveOf := func() *v1alpha1.BlueGreenStatus {
		r, err := st.Get("move")
		if err != nil || len(r.Status.Stages) == 0 || len(r.Status.Stages[0].Clusters) == 0 {
			return nil
		}
		if r.Status.Phase == v1alpha1.PhaseFailed {
			t.Fatalf("the run failed: %s", testfleet.StatusOf(r))
		}
		return r.Status.Stages[0].Clusters[0].BlueGreen
	}
	waitFor(t, "the switch to green", replicas, func() bool {
		bg := moveOf()
		return bg != nil && bg.Switched != nil
	})
	if bg := moveOf(); bg.PostSwitch != "" {
		t.Fatalf("the post-switch window was over before the leader was killed (%s): nothing was tested", bg.PostSwitch)
	}
	standby, killed := killLeader(t, c, replicas)
	t.Logf("leader killed in the post-switch window; the standby drives the run %s later (4 s leases)", takeover(t, c, replicas, "move", standby, killed))
	waitCompleted(t, st, replicas, "move")
	stats := load.Stop()
	t.Logf("load through the switch and the failover: %s; by cluster %v", stats, stats.ByServer)
	if stats.Sent < 500 || stats.Failed != 0 {
		t.Errorf("load: %s; errors %v; want hundreds of requests and none failed", stats, stats.Errors)
	}
	if stats.ByServer["web"] == 0 || stats.ByServer["web-g2"] == 0 {
		t.Errorf("requests by cluster %v: both blue and green should have served", stats.ByServer)
	}

	// Green was built once and blue retired; the name and the member's
	// Cluster object now lead to green.
	if _, err := f.Get("web"); err == nil {
		t.Error("blue still exists")
	}
	if _, err := f.Get("web-g2"); err != nil {
		t.Errorf("green: %v", err)
	}
	if _, err := f.Get("web-g3"); err == nil {
		t.Error("a second green (web-g3) was built")
	}
	member := &v1alpha1.Cluster{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "web"}, member); err != nil {
		t.Fatal(err)
	}
	if member.Spec.Local == nil || member.Spec.Local.Name != "web-g2" {
		t.Errorf("the member's Cluster object names %+v, want local cluster web-g2", member.Spec.Local)
	}
	route, err := trafficgateway.New(admin, token).Route(ctx, hosts.Cluster)
	if err != nil || len(route.Backends) != 1 || route.Backends[0].Name != "web-g2" || route.Backends[0].Weight != 100 {
		t.Errorf("route %s at the end: %+v, %v", hosts.Cluster, route, err)
	}
	// The token was read from its Secret by both replicas, and went
	// nowhere else: not the run's spec, status or audit trail.
	done, _ := st.Get("move")
	object, _ := json.Marshal(done)
	events, _ := st.Events("move")
	audit, _ := json.Marshal(events)
	for what, text := range map[string]string{"run": string(object), "audit": string(audit), "logs": replicas[0].output() + replicas[1].output()} {
		if strings.Contains(text, token) {
			t.Errorf("the gateway's admin token reached the %s", what)
		}
	}
}
