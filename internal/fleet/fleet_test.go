package fleet_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/fleet"
)

func TestMain(m *testing.M) {
	builtin.Register()
	os.Exit(m.Run())
}

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
	clusters, err := fleet.Parse("fleet.yaml", []byte(good))
	if err != nil || len(clusters) != 2 || clusters[0].Spec.Group != "dev-clusters" || clusters[1].Spec.Context != "prod-east" {
		t.Fatalf("Parse = %+v, %v", clusters, err)
	}
	// A relative kubeconfig is taken from the fleet file's folder, so a
	// run resumed from another folder still finds it.
	clusters, err = fleet.Parse("/etc/fleets/prod.yaml", []byte(strings.Replace(good, "kubeconfig: /tmp/k", "kubeconfig: creds/k", 1)))
	if err != nil || clusters[1].Spec.Kubeconfig != "/etc/fleets/creds/k" {
		t.Errorf("relative kubeconfig: %+v, %v", clusters, err)
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown field", "apiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: a}\nspec: {provider: local, local: {name: a}, kubeconfg: x}\n", "unknown field"},
		{"wrong kind", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {}\n", "want upshift.dev/v1alpha1 Cluster"},
		{"bad provider", "apiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: a}\nspec: {provider: gke}\n", "use one of aks, exec, kubeconfig, local"},
		{"local without name", "apiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: a}\nspec: {provider: local}\n", "spec.local.name is required"},
		{"duplicate", good + "---\n" + strings.SplitN(good, "---\n", 2)[0], "listed twice"},
		{"malformed", "apiVersion: [\n", "document 1"},
		{"empty", "# nothing\n", "no Cluster objects"},
		{"window too short", "apiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: a}\nspec: {provider: local, local: {name: a}, maintenanceWindow: {schedule: {weekly: {intervalWeeks: 1, dayOfWeek: Sunday}}, startTime: \"02:00\", durationHours: 2}}\n",
			"cluster a: spec.maintenanceWindow.durationHours: Invalid value: 2: must be 4 to 24"},
		{"window field misspelt", "apiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: a}\nspec: {provider: local, local: {name: a}, maintenanceWindow: {schedule: {weekly: {intervalWeeks: 1, dayOfWeek: Sunday}}, startTime: \"02:00\", durationHours: 4, utcOfset: \"+01:00\"}}\n",
			"unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := fleet.Parse("fleet.yaml", []byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
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
	if err := fleet.SetName(path, "shop", []string{"spec", "local", "name"}, "shop-g2"); err != nil {
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
	if err := fleet.SetName(path, "ghost", []string{"spec", "local", "name"}, "x"); err == nil || !strings.Contains(err.Error(), "no cluster ghost") {
		t.Errorf("unknown cluster: %v", err)
	}
	if err := fleet.SetName(path, "shop", []string{"spec", "local", "name"}, "../x"); err == nil {
		t.Error("an invalid local name was written")
	}
	if after, _ := os.ReadFile(path); string(after) != want {
		t.Error("a refused rewrite changed the file")
	}
}

// FuzzParse: no fleet file panics the parser, and what it accepts names
// valid clusters.
func FuzzParse(f *testing.F) {
	f.Add([]byte("apiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: dev, labels: {env: dev}}\nspec: {provider: local, local: {name: dev}, group: dev-clusters}\n---\napiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: prod-east}\nspec: {provider: kubeconfig, kubeconfig: /tmp/k, context: prod-east}\n"))
	f.Add([]byte("apiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: ..}\nspec: {provider: local, local: {name: ../x}}\n"))
	f.Add([]byte("---\n---\n- a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		clusters, err := fleet.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		out, err := fleet.Marshal(clusters)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fleet.Parse("fuzz.yaml", out); err != nil {
			t.Fatalf("accepted clusters that do not read back: %v", err)
		}
	})
}

// FuzzSetName: rewriting any fleet file either fails and leaves it as it
// was, or leaves a fleet file that still parses.
func FuzzSetName(f *testing.F) {
	f.Add([]byte("apiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: dev, labels: {env: dev}}\nspec: {provider: local, local: {name: dev}, group: dev-clusters}\n---\napiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: prod-east}\nspec: {provider: kubeconfig, kubeconfig: /tmp/k, context: prod-east}\n"), "dev")
	f.Add([]byte("# c\napiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: a}\nspec: {provider: local, local: {name: a}}\n"), "a")
	path := filepath.Join(f.TempDir(), "fleet.yaml")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		err := fleet.SetName(path, name, []string{"spec", "local", "name"}, "green-1")
		after, _ := os.ReadFile(path)
		if err != nil {
			if string(after) != string(data) {
				t.Fatalf("a failed rewrite changed the file")
			}
			return
		}
		if _, perr := fleet.Parse(path, after); perr != nil {
			t.Fatalf("the rewrite left a fleet that does not parse: %v", perr)
		}
	})
}
