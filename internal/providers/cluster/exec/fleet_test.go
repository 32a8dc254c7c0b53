package exec_test

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/azurespec"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) {
	// The example providers' tests run this binary as their cloud's CLI,
	// or as kubectl and ssh for a kubeadm cluster.
	switch cli := filepath.Base(os.Args[0]); cli {
	case "aws", "gcloud":
		os.Exit(fakeCloudCLI(cli, os.Args[1:]))
	case "kubectl", "ssh":
		os.Exit(fakeKubeadmCLI(cli, os.Args[1:]))
	}
	builtin.Register()
	testfleet.Main(m)
}

var (
	lower  = toolchain.Previous()
	higher = toolchain.Latest()
)

// exampleScript is the documented exec provider that drives the local
// fleet; the test binary stands in for the upshift CLI it calls.
func exampleScript(t *testing.T) string {
	t.Helper()
	path, err := filepath.Abs("../../../../examples/exec-provider/local-fleet.sh")
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMixedFleetCrashAndResume runs one staged run over a fleet that mixes
// a local cluster, an AKS cluster (through the Azure emulator, which adopts
// a local cluster into its resource group upshift-local) and a cluster
// driven by the example exec provider: the
// upshift process is SIGKILLed in the middle of the exec cluster's
// control-plane step and again in its node pool step, resumed each time,
// and every cluster ends on the target with nothing done twice: two API
// server starts for the exec cluster, two new nodes for its pool of two.
func TestMixedFleetCrashAndResume(t *testing.T) {
	var wg sync.WaitGroup
	for _, name := range []string{"plain", "scripted", "azured"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			testfleet.Up(t, localfleet.Spec{Name: name, KubernetesVersion: lower.Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	home := testfleet.Fleet(t).Home
	emu := azureemu.New(testfleet.Fleet(t), "")
	arm := httptest.NewServer(azurespec.Hold(t, emu))
	defer func() {
		arm.Close()
		emu.Close()
	}()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fleetFile, runFile := filepath.Join(dir, "fleet.yaml"), filepath.Join(dir, "run.yaml")
	write(t, fleetFile, fmt.Sprintf(`apiVersion: upshift.dev/v1alpha1
kind: Cluster
metadata: {name: plain}
spec: {provider: local, local: {name: plain}, group: prod}
---
apiVersion: upshift.dev/v1alpha1
kind: Cluster
metadata: {name: azured}
spec:
  provider: aks
  group: prod
  aks: {subscriptionID: %s, resourceGroup: %s, name: azured, armEndpoint: %q}
---
apiVersion: upshift.dev/v1alpha1
kind: Cluster
metadata: {name: scripted}
spec:
  provider: exec
  group: dev
  exec:
    name: scripted
    command: [%q]
    env: {UPSHIFT_BIN: %q}
    timeouts: {upgrade-node-pool: 5m}
`, azureemu.DefaultSubscription, azureemu.AdoptGroup, arm.URL, exampleScript(t), exe))
	write(t, runFile, fmt.Sprintf(`apiVersion: upshift.dev/v1alpha1
kind: UpdateRun
metadata: {name: mixed}
spec:
  strategy: {stages: [{name: dev, groups: [{name: dev}]}, {name: prod, groups: [{name: prod}]}]}
  upgrade: {type: Full, kubernetesVersion: "%s"}
  nodeUpgrade: {maxSurge: 1, drainTimeout: 1m}
`, higher.Minor))

	c, err := testfleet.Fleet(t).Get("scripted")
	if err != nil {
		t.Fatal(err)
	}
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	// Record every node at the target that ever exists.
	stopWatch := testfleet.NodesAt(t, client, higher.Version)

	st := &store.Store{Dir: home}
	killWhen := func(args []string, cond func([]store.Event) bool) {
		t.Helper()
		testfleet.KillWhen(t, 3*time.Minute, func() bool { events, _ := st.Events("mixed"); return cond(events) }, args...)
	}
	seenEvent := func(step, prefix string) func([]store.Event) bool {
		return func(events []store.Event) bool {
			for _, e := range events {
				if e.Cluster == "scripted" && e.Step == step && (e.Type == prefix || strings.Contains(e.Message, prefix)) {
					return true
				}
			}
			return false
		}
	}
	killWhen([]string{"run", "-f", runFile, "--fleet", fleetFile, "--home", home}, seenEvent("ControlPlane "+higher.Version, "Started"))
	// The exec provider streams the command's stderr as the pool step's
	// progress: kill once the first surge node is Ready.
	killWhen([]string{"resume", "mixed", "--home", home}, seenEvent("NodePool user", "draining"))
	out, err := testfleet.CLI("resume", "mixed", "--home", home).CombinedOutput()
	if err != nil {
		t.Fatalf("final resume: %v\n%s", err, out)
	}
	seen := stopWatch()

	run, err := st.Get("mixed")
	if err != nil {
		t.Fatal(err)
	}
	if run.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("run %s: %s\n%s", run.Status.Phase, run.Status.Message, out)
	}
	steps := run.Status.Stages[0].Clusters[0].Steps
	if len(steps) != 2 || steps[0].Kind != "ControlPlane" || steps[0].Attempts != 2 || steps[1].Kind != "NodePool" || steps[1].Attempts != 2 {
		t.Errorf("the exec cluster's steps: %+v; want ControlPlane and NodePool, each started twice (killed once)", steps)
	}
	for _, name := range []string{"plain", "scripted", "azured"} {
		got, err := testfleet.Fleet(t).Get(name)
		if err != nil {
			t.Fatal(err)
		}
		status := testfleet.Fleet(t).Status(t.Context(), got)
		if status.ServerVersion != higher.Version {
			t.Errorf("%s runs %s after the run, want %s", name, status.ServerVersion, higher.Version)
		}
		for _, p := range got.NodePools {
			if p.KubernetesVersion != higher.Version {
				t.Errorf("%s pool %s at %s, want %s", name, p.Name, p.KubernetesVersion, higher.Version)
			}
		}
	}
	log, err := os.ReadFile(filepath.Join(testfleet.LogDir(c), "kube-apiserver.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), "Serving securely on"); n != 2 {
		t.Errorf("the exec cluster's API server started %d times; want 2 (up and one upgrade)", n)
	}
	if len(seen) != 2 {
		t.Errorf("%d nodes at %s were created in the exec cluster: %v; want 2 (no second surge)", len(seen), higher.Version, seen)
	}
	var progress int
	events, _ := st.Events("mixed")
	for _, e := range events {
		if e.Cluster == "scripted" && e.Step == "NodePool user" && e.Type == "Progress" {
			progress++
		}
	}
	if progress == 0 {
		t.Error("the exec command's stderr never showed as the pool step's progress")
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
