package statesync_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/statesync"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

const appManifests = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
`

// TestManifests applies a folder and a kustomization to a real cluster:
// files are read in name order but applied in dependency order (the
// namespace first, though its file sorts last), and kustomize builds the
// overlay.
func TestManifests(t *testing.T) {
	ctx := t.Context()
	c := testfleet.Up(t, localfleet.Spec{Name: "manifests", KubernetesVersion: toolchain.Latest().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 1}}})
	cfg, err := c.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	client, _ := c.Client()

	plain := t.TempDir()
	writeFiles(t, plain, map[string]string{
		"a-app.yaml":       appManifests,
		"b-config.yml":     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: shop}\ndata: {mode: blue}\n",
		"z-namespace.json": `{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}`,
		"README.md":        "not a manifest",
	})
	objs, err := statesync.ReadManifests(plain)
	if err != nil || len(objs) != 4 {
		t.Fatalf("read %d objects, %v; want 4", len(objs), err)
	}
	res, err := statesync.ApplyManifests(ctx, cfg, objs)
	if err != nil || res.Applied != 4 {
		t.Fatalf("applied %+v, %v", res, err)
	}
	if _, err := client.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}

	overlay := t.TempDir()
	writeFiles(t, overlay, map[string]string{
		"kustomization.yaml": "namespace: shop\nnamePrefix: canary-\nresources: [config.yaml]\n",
		"config.yaml":        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: green}\n",
	})
	objs, err = statesync.ReadManifests(overlay)
	if err != nil || len(objs) != 1 {
		t.Fatalf("kustomization: %d objects, %v", len(objs), err)
	}
	if _, err := statesync.ApplyManifests(ctx, cfg, objs); err != nil {
		t.Fatal(err)
	}
	cm, err := client.CoreV1().ConfigMaps("shop").Get(ctx, "canary-settings", metav1.GetOptions{})
	if err != nil || cm.Data["mode"] != "green" {
		t.Fatalf("kustomized config map: %v %v", cm.Data, err)
	}
}

func TestManifestsBadInput(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"broken.yaml": "kind: ConfigMap\nmetadata: {name: x\n"})
	if _, err := statesync.ReadManifests(dir); err == nil || !strings.Contains(err.Error(), "broken.yaml") {
		t.Fatalf("malformed YAML: %v; want an error naming the file", err)
	}
	empty := t.TempDir()
	if _, err := statesync.ReadManifests(empty); err == nil || !strings.Contains(err.Error(), "no Kubernetes objects") {
		t.Fatalf("empty folder: %v", err)
	}
	if _, err := statesync.ReadManifests(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing path was read")
	}
	writeFiles(t, dir, map[string]string{"broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: x}\n"})
	if _, err := statesync.ReadManifests(dir); err == nil || !strings.Contains(err.Error(), "no metadata.name") {
		t.Fatalf("object without a name: %v", err)
	}
}
