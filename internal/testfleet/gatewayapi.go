package testfleet

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/internal/crds"
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
