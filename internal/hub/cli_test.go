package hub_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/crds"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

const stagedRun = `apiVersion: upshift.dev/v1alpha1
kind: UpdateRun
metadata: {name: patch-all}
spec:
  strategyRef: {name: rings}
  upgrade: {type: NodeImageOnly, nodeImageSelection: {type: Latest}}
---
apiVersion: upshift.dev/v1alpha1
kind: UpdateStrategy
metadata: {name: rings}
spec:
  stages:
  - name: dev
    groups: [{name: dev}]
  - name: prod
    groups: [{name: prod}]
    maxConcurrency: 2
    beforeStageTasks: [{type: Approval, name: release-manager}]
`

// cliResult runs the CLI against the hub and returns its exit code and
// its output; a CLI still running after three minutes fails the test.
func cliResult(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := testfleet.CLI(args...)
	timer := time.AfterFunc(3*time.Minute, func() { _ = cmd.Process.Kill() })
	code, out := testfleet.Exit(t, cmd)
	if !timer.Stop() {
		t.Fatalf("upshift %s still ran after 3 minutes:\n%s", strings.Join(args, " "), out)
	}
	return code, out
}

// TestHubCLI drives hub mode from the CLI, as a release manager would: a
// run file (the same one `upshift run` reads) goes to the hub with
// --context (the hub's, as for any cluster), which plans it over three member Cluster objects in two stages
// and drives it; the CLI follows it, while status, history and approve
// work against the hub from another terminal; a stop and a resume go
// through the hub too. Bad hub input changes nothing and exits 2.
func TestHubCLI(t *testing.T) {
	hubCluster := testfleet.Up(t, localfleet.Spec{Name: "cli-hub", KubernetesVersion: toolchain.Latest().Minor})
	members := map[string]string{"cli-dev": "dev", "cli-prod-1": "prod", "cli-prod-2": "prod"}
	for name := range members {
		testfleet.Up(t, localfleet.Spec{Name: name, KubernetesVersion: toolchain.Latest().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
	}
	ctx := t.Context()
	kubeconfig := hubCluster.KubeconfigPath()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	hubFlags := []string{"--context", "cli-hub", "--kubeconfig", kubeconfig, "-n", "default"}

	// Before the CRDs: a clear refusal.
	dir := t.TempDir()
	runFile := filepath.Join(dir, "run.yaml")
	if err := os.WriteFile(runFile, []byte(stagedRun), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := cliResult(t, append([]string{"history"}, hubFlags...)...); code != 2 || !strings.Contains(out, "does not serve upshift's API") {
		t.Errorf("history on a hub without upshift's CRDs: exit %d\n%s", code, out)
	}
	// The flags of earlier releases still work, and say what replaces them.
	if code, out := cliResult(t, "history", "--hub", "no-such-context", "--hub-kubeconfig", kubeconfig); code != 2 || !strings.Contains(out, "no-such-context") ||
		!strings.Contains(out, "--hub has been deprecated, use --context") || !strings.Contains(out, "--hub-kubeconfig has been deprecated, use --kubeconfig") {
		t.Errorf("history --hub naming no context: exit %d\n%s", code, out)
	}
	if err := crds.Install(ctx, cfg, time.Minute); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: hubstore.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	for name, group := range members {
		if err := c.Create(ctx, &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: name}, Group: group}}); err != nil {
			t.Fatal(err)
		}
	}
	if code, out := cliResult(t, append([]string{"run", "-f", runFile, "--fleet", runFile}, hubFlags...)...); code != 2 || !strings.Contains(out, "--fleet is not used with a hub") {
		t.Errorf("run --hub with --fleet: exit %d\n%s", code, out)
	}
	// The replica logs in JSON, as a log pipeline reads it.
	replicas := []*replica{startReplica(t, kubeconfig, "replica-a", "--log-format", "json")}

	// The run, followed from this terminal.
	var out bytes.Buffer
	var mu sync.Mutex
	follow := testfleet.CLI(append([]string{"run", "-f", runFile}, hubFlags...)...)
	follow.Stdout, follow.Stderr = lockedWriter{&mu, &out}, lockedWriter{&mu, &out}
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = follow.Process.Kill() })
	followed := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
	st := &hubstore.Store{Client: c, Namespace: "default"}
	waitFor(t, "the prod stage to wait for its approval", replicas, func() bool {
		r, err := st.Get("patch-all")
		return err == nil && len(r.Status.Stages) == 2 && r.Status.Stages[0].Phase == v1alpha1.PhaseCompleted &&
			r.Status.Stages[1].BeforeTasks[0].Phase == v1alpha1.PhaseWaiting
	})

	// From another terminal: status, history, a wrong stage, a stop and a
	// resume (which follows), then the approval.
	if code, s := cliResult(t, append([]string{"status", "patch-all"}, hubFlags...)...); code != 0 || !strings.Contains(s, "stage dev: Completed") || !strings.Contains(s, "before release-manager: Waiting") ||
		!strings.Contains(s, "upshift approve patch-all --stage prod --context HUB_CONTEXT -n default") {
		t.Errorf("status --hub: exit %d\n%s", code, s)
	}
	if code, s := cliResult(t, append([]string{"history"}, hubFlags...)...); code != 0 || !strings.Contains(s, "patch-all") || !strings.Contains(s, "Waiting") {
		t.Errorf("history --hub: exit %d\n%s", code, s)
	}
	if code, s := cliResult(t, append([]string{"approve", "patch-all", "--stage", "prdo"}, hubFlags...)...); code != 2 {
		t.Errorf("approve --hub of a stage that does not exist: exit %d\n%s", code, s)
	}
	if code, s := cliResult(t, append([]string{"stop", "patch-all"}, hubFlags...)...); code != 0 || !strings.Contains(s, "resume patch-all --kubeconfig "+kubeconfig+" --context cli-hub -n default") {
		t.Errorf("stop --hub: exit %d\n%s", code, s)
	}
	if err := follow.Wait(); err == nil || follow.ProcessState.ExitCode() != 10 {
		t.Errorf("the followed run ended with %v after a stop, want exit 10:\n%s", err, followed())
	}
	resume := testfleet.CLI(append([]string{"resume", "patch-all"}, hubFlags...)...)
	var resumed bytes.Buffer
	resume.Stdout, resume.Stderr = lockedWriter{&mu, &resumed}, lockedWriter{&mu, &resumed}
	if err := resume.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resume.Process.Kill() })
	waitFor(t, "the resumed run to wait for its approval again", replicas, func() bool {
		r, err := st.Get("patch-all")
		return err == nil && r.Spec.State == v1alpha1.StateRun && r.Status.Stages[1].BeforeTasks[0].Phase == v1alpha1.PhaseWaiting
	})
	if code, s := cliResult(t, append([]string{"approve", "patch-all", "--stage", "prod", "--by", "carol"}, hubFlags...)...); code != 0 {
		t.Fatalf("approve --hub: exit %d\n%s", code, s)
	}
	if err := resume.Wait(); err != nil {
		mu.Lock()
		t.Fatalf("resume --hub: %v\n%s\nhub:\n%s", err, resumed.String(), replicas[0].output())
	}
	mu.Lock()
	report := resumed.String()
	mu.Unlock()
	for _, want := range []string{"run patch-all: Completed", "cluster cli-prod-2", "approved by carol", "run patch-all completed"} {
		if !strings.Contains(report, want) {
			t.Errorf("the followed run's output lacks %q:\n%s", want, report)
		}
	}
	// Every line the replica wrote is a JSON record; the runs' progress
	// carries the run, stage, cluster and step as fields.
	stepDone := false
	for _, line := range strings.Split(strings.TrimSpace(replicas[0].output()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("the replica wrote a line that is no JSON object: %q", line)
			continue
		}
		if rec["run"] == "patch-all" && rec["stage"] == "prod" && rec["cluster"] == "cli-prod-2" && rec["event"] == "Completed" {
			stepDone = true
		}
	}
	if !stepDone {
		t.Errorf("no record of cli-prod-2's progress in prod with its fields:\n%s", replicas[0].output())
	}

	// A run planned only (state Initialize) is cancelled from the CLI:
	// the hub ends it, touching nothing, and it cannot be resumed.
	idle := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "cancel-me", Namespace: "default"}, Spec: v1alpha1.UpdateRunSpec{
		Strategy: &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "dev", Groups: []v1alpha1.GroupRef{{Name: "dev"}}}, {Name: "prod", Groups: []v1alpha1.GroupRef{{Name: "prod"}}}}},
		State:    v1alpha1.StateInitialize,
		Upgrade:  v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeNodeImageOnly, NodeImageSelection: &v1alpha1.NodeImageSelection{Type: v1alpha1.NodeImageLatest}}}}
	if err := c.Create(ctx, idle); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the hub to plan the idle run", replicas, func() bool {
		r, err := st.Get("cancel-me")
		return err == nil && len(r.Status.Stages) == 2
	})
	if code, s := cliResult(t, append([]string{"cancel", "cancel-me", "--reason", "wrong target"}, hubFlags...)...); code != 0 || !strings.Contains(s, "run cancel-me: Cancelled") {
		t.Errorf("cancel --hub: exit %d\n%s", code, s)
	}
	if code, s := cliResult(t, append([]string{"resume", "cancel-me"}, hubFlags...)...); code != 2 || !strings.Contains(s, "was cancelled and cannot be resumed") {
		t.Errorf("resume --hub of a cancelled run: exit %d\n%s", code, s)
	}
	// The cancelled run's clusters, none of them done, are retried on the
	// hub at its target: a new run limited to them (spec.clusters), linked
	// to it, planned and driven by the hub and followed here.
	if code, s := cliResult(t, append([]string{"retry", "cancel-me", "--name", "cancel-me-again"}, hubFlags...)...); code != 0 ||
		!strings.Contains(s, "run cancel-me-again retries 3 cluster(s) of run cancel-me at its target: cli-") || !strings.Contains(s, "run cancel-me-again: Completed") {
		t.Errorf("retry --hub: exit %d\n%s", code, s)
	}
	if r, err := st.Get("cancel-me-again"); err != nil || r.Annotations[v1alpha1.AnnotationRetryOf] != "cancel-me" || len(r.Spec.Clusters) != 3 || r.Status.Phase != v1alpha1.PhaseCompleted {
		t.Errorf("the retry on the hub (%v): %+v", err, r)
	}
	if code, s := cliResult(t, append([]string{"retry", "cancel-me-again"}, hubFlags...)...); code != 2 || !strings.Contains(s, "left no cluster to retry") {
		t.Errorf("retry --hub of a run that completed: exit %d\n%s", code, s)
	}
	// spec.clusters limits what the hub plans; a name the namespace does
	// not hold refuses the run.
	for name, only := range map[string][]string{"only-dev": {"cli-dev"}, "only-ghost": {"cli-dev", "cli-ghost"}} {
		r := idle.DeepCopy()
		r.ObjectMeta = metav1.ObjectMeta{Name: name, Namespace: "default"}
		r.Spec.Clusters, r.Spec.Strategy.Stages = only, r.Spec.Strategy.Stages[:1]
		if err := c.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the hub to plan only-dev and refuse only-ghost", replicas, func() bool {
		dev, err1 := st.Get("only-dev")
		ghost, err2 := st.Get("only-ghost")
		return err1 == nil && err2 == nil && len(dev.Status.Stages) > 0 && ghost.Status.Phase == v1alpha1.PhaseFailed
	})
	if r, _ := st.Get("only-dev"); len(r.Status.Clusters) != 1 || r.Status.Clusters[0] != "cli-dev" {
		t.Errorf("a run limited to cli-dev holds %v", r.Status.Clusters)
	}
	if r, _ := st.Get("only-ghost"); !strings.Contains(r.Status.Message, "spec.clusters names cli-ghost, which the fleet does not hold") {
		t.Errorf("a run naming a cluster the hub does not hold: %s", r.Status.Message)
	}

	// The cancelled run is deleted from the CLI; its name is free.
	if code, s := cliResult(t, append([]string{"delete", "cancel-me"}, hubFlags...)...); code != 0 || !strings.Contains(s, "run cancel-me deleted (was Cancelled)") {
		t.Errorf("delete --hub: exit %d\n%s", code, s)
	}
	if _, err := st.Get("cancel-me"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the deleted run: %v, want not found", err)
	}
	if code, s := cliResult(t, append([]string{"delete", "cancel-me"}, hubFlags...)...); code != 2 {
		t.Errorf("delete --hub of a run that is gone: exit %d, want 2\n%s", code, s)
	}

	latest := nodeimages.Default().Latest().Version
	for name := range members {
		m, _ := testfleet.Fleet(t).Get(name)
		mc, _ := m.Client()
		nodes, err := mc.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: localfleet.LabelNodePool + "=user"})
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes.Items) != 2 {
			t.Errorf("%s: the pool has %d nodes, want 2", name, len(nodes.Items))
		}
		for _, n := range nodes.Items {
			if n.Labels[localfleet.LabelNodeImage] != latest {
				t.Errorf("%s: node %s on %s, want %s", name, n.Name, n.Labels[localfleet.LabelNodeImage], latest)
			}
		}
	}
}
