package bluegreen_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/providers/traffic"
	"upshift.dev/upshift/internal/providers/traffic/gatewayapi"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

// TestBlueGreenThroughGatewayAPI moves a cluster through T0–T4 whose
// names are HTTPRoutes on another cluster (the edge), served by upshift's
// gateway following them as their Gateway's implementation, while users
// use the public name: no request fails, and the routes end on green.
func TestBlueGreenThroughGatewayAPI(t *testing.T) {
	ctx := t.Context()
	edge := testfleet.Up(t, localfleet.Spec{Name: "edge", KubernetesVersion: toolchain.Latest().Minor})
	edgeCfg, err := edge.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	front := testfleet.GatewayAPIFront(t, edgeCfg)
	blue := upBlue(t, "ga", hosts.Public)
	ga := &v1alpha1.GatewayAPITraffic{Kubeconfig: edge.KubeconfigPath(), Namespace: "default", ParentRef: v1alpha1.GatewayParentRef{Name: "front"}}
	p, err := gatewayapi.New(edgeCfg, *ga)
	if err != nil {
		t.Fatal(err)
	}
	// The user's route before the move: the cluster name, with the public
	// name as another hostname, on blue.
	if err := p.ApplyRoute(ctx, traffic.Route{Host: hosts.Cluster, Aliases: []string{hosts.Public}, UpstreamHost: hosts.Public,
		Backends: []traffic.Backend{{Name: "ga", URL: blue.IngressURL(), Weight: 100}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ingress.WaitServed(ctx, front, hosts.Public, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	e := &env{blue: blue, dir: t.TempDir(), front: front}
	spec := e.spec()
	spec.Traffic.Provider, spec.Traffic.Gateway, spec.Traffic.GatewayAPI = v1alpha1.TrafficGatewayAPI, nil, ga
	moveUnderLoad(t, e, "bg-gatewayapi", spec)
	// Retired blue left no Service behind on the edge.
	edgeClient, err := edge.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := edgeClient.CoreV1().Services("default").Get(ctx, "ga", metav1.GetOptions{}); err == nil {
		t.Error("blue's Service is still on the edge after T4")
	}
	for _, host := range []string{hosts.Cluster, hosts.Blue, hosts.Green} {
		r, err := p.Route(ctx, host)
		if err != nil || len(r.Backends) != 1 || r.Backends[0].Name != "ga-g2" || r.Backends[0].Weight != 100 {
			t.Errorf("after the move HTTPRoute %s is %+v (%v), want ga-g2 alone", host, r.Backends, err)
		}
	}
}
