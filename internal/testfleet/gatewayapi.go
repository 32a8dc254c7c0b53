package testfleet

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/internal/crds"
	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/frontdoor/gatewayapi"
	trafficgatewayapi "upshift.dev/upshift/internal/providers/traffic/gatewayapi"
)

// InstallGatewayAPI installs the Gateway API's standard CRDs for
// GatewayClasses, Gateways and HTTPRoutes, as published with the module
// sigs.k8s.io/gateway-api this project builds with, on a cluster.
func InstallGatewayAPI(t testing.TB, cfg *rest.Config) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	if err != nil {
		t.Fatalf("finding the Gateway API module: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard")
	var list []*apiextensionsv1.CustomResourceDefinition
	for _, kind := range []string{"gatewayclasses", "gateways", "httproutes", "referencegrants"} {
		data, err := os.ReadFile(filepath.Join(dir, "gateway.networking.k8s.io_"+kind+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(data, crd); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		list = append(list, crd)
	}
	if err := crds.Apply(t.Context(), cfg, list, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// GatewayAPIFront makes the cluster cfg reaches a Gateway API front door
// that upshift's gateway implements: the standard CRDs, the GatewayClass
// "upshift", its Gateway "front" in namespace default, and a gateway
// following them until the test ends. It returns the gateway's URL.
func GatewayAPIFront(t testing.TB, cfg *rest.Config) string {
	t.Helper()
	ctx := t.Context()
	InstallGatewayAPI(t, cfg)
	c, err := trafficgatewayapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &gatewayv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "upshift"}, Spec: gatewayv1.GatewayClassSpec{ControllerName: gatewayapi.ControllerName}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "front", Namespace: "default"}, Spec: gatewayv1.GatewaySpec{
		GatewayClassName: "upshift", Listeners: []gatewayv1.Listener{{Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType}}}}); err != nil {
		t.Fatal(err)
	}
	gcfg := frontdoor.Config{Listen: LoopbackAddr(t), AdminListen: LoopbackAddr(t), HealthInterval: frontdoor.Duration{Duration: 200 * time.Millisecond}}
	gw := RunGateway(t, gcfg, "gateway-api-front-token-0123456789")
	fctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&gatewayapi.Follower{Client: c, Class: "upshift", Gateway: gw}).Run(fctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + gcfg.Listen
}
