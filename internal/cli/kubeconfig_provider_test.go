package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

// TestKubeconfigProvider: a cluster reached only by a kubeconfig context is
// really contacted by `upshift fleet` (version, pools from the nodes' pool
// labels), one that is down shows as unreachable without hiding the
// others, and `upshift plan` names each step the provider cannot do and
// changes nothing (exit 2).
func TestKubeconfigProvider(t *testing.T) {
	c := testfleet.Up(t, localfleet.Spec{Name: "byconfig", KubernetesVersion: toolchain.Previous().Minor, NodePools: []localfleet.PoolSpec{{Name: "system", Count: 1}, {Name: "user", Count: 2}}})
	dir := t.TempDir()
	fleetFile := filepath.Join(dir, "fleet.yaml")
	if err := os.WriteFile(fleetFile, []byte(`apiVersion: upshift.dev/v1alpha1
kind: Cluster
metadata: {name: eks-prod}
spec: {provider: kubeconfig, kubeconfig: `+c.KubeconfigPath()+`, context: byconfig, group: prod}
---
apiVersion: upshift.dev/v1alpha1
kind: Cluster
metadata: {name: gone}
spec: {provider: kubeconfig, kubeconfig: missing/kubeconfig, group: prod}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := run(t, "fleet", "--fleet", fleetFile, "-o", "json", "--home", testfleet.Fleet(t).Home)
	if code != 0 {
		t.Fatalf("fleet: exit %d\n%s", code, stderr)
	}
	var clusters []v1alpha1.Cluster
	if err := json.Unmarshal([]byte(out), &clusters); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	eks := clusters[0]
	if cond := meta.FindStatusCondition(eks.Status.Conditions, v1alpha1.ConditionReachable); cond == nil || cond.Status != metav1.ConditionTrue {
		t.Errorf("eks-prod reachability: %+v", eks.Status.Conditions)
	}
	if eks.Status.KubernetesVersion != toolchain.Previous().Version || len(eks.Status.NodePools) != 2 || eks.Status.NodePools[0].Name != "system" || eks.Status.NodePools[1].Count != 2 || eks.Status.NodePools[1].KubernetesVersion != toolchain.Previous().Version {
		t.Errorf("eks-prod as read: %+v", eks.Status)
	}
	if cond := meta.FindStatusCondition(clusters[1].Status.Conditions, v1alpha1.ConditionReachable); cond == nil || cond.Status != metav1.ConditionFalse || !strings.Contains(cond.Message, filepath.Join(dir, "missing/kubeconfig")) {
		t.Errorf("a cluster whose kubeconfig is missing: %+v", clusters[1].Status.Conditions)
	}

	// The table says unknown where nothing can tell (the version and pools
	// of a cluster that does not answer), never a blank.
	code, out, stderr = run(t, "fleet", "--fleet", fleetFile, "--home", testfleet.Fleet(t).Home)
	if code != 0 {
		t.Fatalf("fleet: exit %d\n%s", code, stderr)
	}
	if !regexp.MustCompile(`(?m)^gone\s+prod\s+kubeconfig\s+unknown\s+unknown\s+no: loading kubeconfig`).MatchString(out) ||
		!strings.Contains(out, "user=2 ("+toolchain.Previous().Version+", image ubuntu-") {
		t.Errorf("the fleet table:\n%s", out)
	}

	runFile := filepath.Join(dir, "run.yaml")
	if err := os.WriteFile(runFile, []byte(`apiVersion: upshift.dev/v1alpha1
kind: UpdateRun
metadata: {name: up}
spec:
  strategy: {stages: [{name: prod, groups: [{name: prod}]}]}
  upgrade: {type: Full, kubernetesVersion: "`+toolchain.Latest().Minor+`"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	oneCluster := filepath.Join(dir, "one.yaml")
	data, _ := os.ReadFile(fleetFile)
	if err := os.WriteFile(oneCluster, []byte(strings.SplitN(string(data), "---\n", 2)[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	code, _, stderr = run(t, "plan", "-f", runFile, "--fleet", oneCluster, "--home", home)
	for _, want := range []string{"step ControlPlane needs upgrade-control-plane, which provider kubeconfig cannot do", "step NodePool user needs upgrade-node-pool", "use provider exec"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("plan of a kubeconfig cluster does not say %q:\n%s", want, stderr)
		}
	}
	if code != 2 {
		t.Errorf("plan exit code %d, want 2", code)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("a refused plan wrote to the home: %v", entries)
	}
}
