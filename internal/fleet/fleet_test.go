package fleet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	good := `apiVersion: upshift.dev/v1alpha1
kind: Cluster
metadata: {name: dev, labels: {env: dev}}
spec: {provider: local, local: {name: dev}, group: dev-clusters}
---
apiVersion: upshift.dev/v1alpha1
kind: Cluster
metadata: {name: prod-east}
spec: {provider: kubeconfig, kubeconfig: /tmp/k, context: prod-east}
`
	clusters, err := Parse("fleet.yaml", []byte(good))
	if err != nil || len(clusters) != 2 || clusters[0].Spec.Group != "dev-clusters" || clusters[1].Spec.Context != "prod-east" {
		t.Fatalf("Parse = %+v, %v", clusters, err)
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown field", "apiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: a}\nspec: {provider: local, local: {name: a}, kubeconfg: x}\n", "unknown field"},
		{"wrong kind", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {}\n", "want upshift.dev/v1alpha1 Cluster"},
		{"bad provider", "apiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: a}\nspec: {provider: gke}\n", "use local or kubeconfig"},
		{"local without name", "apiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: a}\nspec: {provider: local}\n", "spec.local.name is required"},
		{"duplicate", good + "---\n" + strings.SplitN(good, "---\n", 2)[0], "listed twice"},
		{"malformed", "apiVersion: [\n", "document 1"},
		{"empty", "# nothing\n", "no Cluster objects"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse("fleet.yaml", []byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestSetName: green takes blue's place in a user's fleet file, and
// nothing else of the file changes: comments, the other clusters, the
// mode.
func TestSetName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fleet.yaml")
	in := `# our fleet, reviewed by the platform team
apiVersion: upshift.dev/v1alpha1
kind: Cluster
metadata:
  name: shop # the public shop
  labels:
    env: prod
spec:
  provider: local
  local:
    name: shop
---
# staging
apiVersion: upshift.dev/v1alpha1
kind: Cluster
metadata:
  name: staging
spec:
  provider: local
  local:
    name: shop
`
	if err := os.WriteFile(path, []byte(in), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := SetName(path, "shop", []string{"spec", "local", "name"}, "shop-g2"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := strings.Replace(in, "    name: shop\n---", "    name: shop-g2\n---", 1)
	if string(got) != want {
		t.Errorf("rewritten file:\n%s\nwant:\n%s", got, want)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640 kept", fi.Mode().Perm())
	}
	if err := SetName(path, "ghost", []string{"spec", "local", "name"}, "x"); err == nil || !strings.Contains(err.Error(), "no cluster ghost") {
		t.Errorf("unknown cluster: %v", err)
	}
	if err := SetName(path, "shop", []string{"spec", "local", "name"}, "../x"); err == nil {
		t.Error("an invalid local name was written")
	}
	if after, _ := os.ReadFile(path); string(after) != want {
		t.Error("a refused rewrite changed the file")
	}
}
