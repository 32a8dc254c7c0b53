package fleet

import (
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
