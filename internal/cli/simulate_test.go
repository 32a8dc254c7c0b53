package cli_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/drainsim"
	"upshift.dev/upshift/internal/exitcode"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/cluster/local"
	"upshift.dev/upshift/internal/sampleapp"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

// TestPlanSimulateForeseesTheBlockedDrain: on a pool where one budget
// can never yield, `plan --simulate` names the node, pod and budget,
// confirmed by the API server, while writing nothing to the cluster; the
// real run then stops on that node, pod and budget; once the budget is
// gone the resumed run completes and records what its pool took.
func TestPlanSimulateForeseesTheBlockedDrain(t *testing.T) {
	ctx := t.Context()
	c := testfleet.Up(t, localfleet.Spec{Name: "foresight", KubernetesVersion: toolchain.Previous().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 3}}})
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	web := sampleapp.App{Namespace: "shop", Name: "web", Host: "web.example", Replicas: 3, MinAvailable: 2}
	ledger := sampleapp.App{Namespace: "pay", Name: "ledger", Host: "ledger.example", Replicas: 2, MinAvailable: 2}
	for _, app := range []sampleapp.App{web, ledger} {
		if err := app.Deploy(ctx, client); err != nil {
			t.Fatal(err)
		}
		if err := app.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	waitBudgetsObserved(t, client)
	pods := podsByName(t, client)

	dir := t.TempDir()
	runFile, fleetFile := filepath.Join(dir, "run.yaml"), filepath.Join(dir, "fleet.yaml")
	writeTestFile(t, fleetFile, "apiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: foresight}\nspec: {provider: local, local: {name: foresight}, group: prod}\n")
	writeTestFile(t, runFile, `apiVersion: upshift.dev/v1alpha1
kind: UpdateRun
metadata: {name: foresee}
spec:
  strategy: {stages: [{name: prod, groups: [{name: prod}]}]}
  upgrade: {type: Full, kubernetesVersion: "`+toolchain.Latest().Minor+`"}
  nodeUpgrade: {maxSurge: 1, drainTimeout: 5s}
`)
	home := testfleet.Fleet(t).Home

	code, out, stderr := run(t, "plan", "-f", runFile, "--fleet", fleetFile, "--home", home, "--simulate", "-o", "json")
	if code != exitcode.DrainBlocked {
		t.Fatalf("plan --simulate: exit %d, want %d (a drain that will not finish)\n%s%s", code, exitcode.DrainBlocked, out, stderr)
	}
	var view struct {
		Stages []struct {
			Groups []struct {
				Clusters []struct {
					Simulations []struct {
						Pool     string
						Error    string
						DryRuns  int `json:"dryRunEvictions"`
						Batches  []drainsim.Batch
						Blockers []drainsim.Finding
						StopsAt  int `json:"stopsAtBatch"`
						Duration *drainsim.Prediction
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &view); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	sims := view.Stages[0].Groups[0].Clusters[0].Simulations
	if len(sims) != 1 || sims[0].Error != "" || len(sims[0].Blockers) == 0 {
		t.Fatalf("simulations %+v; want pool user's, with a blocker", sims)
	}
	sim := sims[0]
	blocked := sim.Blockers[0]
	if !strings.HasPrefix(blocked.Pod, "pay/ledger-") || blocked.Budget != "pay/ledger" || pods[blocked.Pod] != blocked.Node || !strings.Contains(blocked.Confirmed, "disruption budget") {
		t.Errorf("blocker %+v; want a ledger pod on its own node, budget pay/ledger, refused by the API server's dry run (pods on nodes: %v)", blocked, pods)
	}
	for _, b := range sim.Blockers {
		if !strings.HasPrefix(b.Pod, "pay/ledger-") || b.Batch != sim.StopsAt {
			t.Errorf("blocker %+v: only ledger pods, in the batch the upgrade stops in (%d), block", b, sim.StopsAt)
		}
	}
	if sim.DryRuns == 0 || sim.Duration == nil || !sim.Duration.Fails || sim.Duration.Expected < 5*time.Second {
		t.Errorf("dry runs %d, duration %+v; want dry-run evictions, and a prediction that waits out the 5s drain timeout then fails", sim.DryRuns, sim.Duration)
	}
	code, table, _ := run(t, "plan", "-f", runFile, "--fleet", fleetFile, "--home", home, "--simulate")
	t.Logf("plan --simulate:\n%s", table)
	if want := fmt.Sprintf("BLOCKED batch %d, node %s, pod %s: PodDisruptionBudget pay/ledger needs 2 of its 2 pod(s) healthy", blocked.Batch, blocked.Node, blocked.Pod); code != exitcode.DrainBlocked || !strings.Contains(table, want) || !strings.Contains(table, "then the upgrade fails in batch") {
		t.Errorf("plan --simulate's table (exit %d) does not say %q and that the upgrade fails:\n%s", code, want, table)
	}
	// The same findings as SARIF, for a pipeline's code scanning.
	code, out, _ = run(t, "plan", "-f", runFile, "--fleet", fleetFile, "--home", home, "--simulate", "-o", "sarif")
	var sarif struct {
		Runs []struct {
			Results []struct {
				RuleID, Level string
				Message       struct{ Text string }
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &sarif); err != nil || code != exitcode.DrainBlocked || len(sarif.Runs) != 1 || len(sarif.Runs[0].Results) == 0 {
		t.Fatalf("plan --simulate -o sarif: exit %d, %v\n%s", code, err, out)
	}
	if r := sarif.Runs[0].Results[0]; r.RuleID != "drain-blocked" || r.Level != "error" || !strings.Contains(r.Message.Text, "PodDisruptionBudget pay/ledger needs 2 of its 2 pod(s) healthy") {
		t.Errorf("first SARIF result %+v; want the ledger's blocker as an error", r)
	}
	if code, _, stderr := run(t, "plan", "-f", runFile, "--fleet", fleetFile, "--home", home, "-o", "sarif"); code != exitcode.Usage || !strings.Contains(stderr, "add --simulate") {
		t.Errorf("plan -o sarif without --simulate: exit %d, %s", code, stderr)
	}
	if after := podsByName(t, client); !maps.Equal(after, pods) {
		t.Errorf("plan --simulate moved pods: before %v, after %v", pods, after)
	}
	assertNothingCordoned(t, client)

	// The same replay through a transport that sees every request: only
	// reads, and evictions that are dry runs.
	cfg, err := c.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg = rest.CopyConfig(cfg)
	var requests testfleet.Requests
	requests.Wrap(cfg)
	counted, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	where, err := local.New(testfleet.Fleet(t)).PoolNodes(ctx, "foresight", "user", cluster.NodePoolUpgrade{KubernetesVersion: toolchain.Latest().Minor})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	snap, err := drainsim.Load(ctx, counted)
	if err != nil {
		t.Fatal(err)
	}
	res, err := drainsim.Simulate(snap, drainsim.Pool{Name: "user", Selector: labels.SelectorFromSet(labels.Set{localfleet.LabelNodePool: "user"}), MaxSurge: intstr.FromInt32(1)})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := drainsim.Confirm(ctx, counted, res)
	if err != nil {
		t.Fatal(err)
	}
	reads, dryRuns, writes := requests.Counts()
	t.Logf("replay of %d nodes, %d pods: %s, %d reads, %d dry-run evictions (selector %s)", len(snap.Nodes), len(snap.Pods), time.Since(start), reads, sent, where.Selector)
	if len(writes) > 0 || reads != 3 || sent == 0 || dryRuns != sent {
		t.Errorf("the replay wrote %v and read %d times (want 3 lists), with %d dry runs (%d sent)", writes, reads, dryRuns, sent)
	}

	// As a preflight gate, the replay stops the run before it changes
	// anything.
	gated := filepath.Join(dir, "gated.yaml")
	writeTestFile(t, gated, strings.Replace(readTestFile(t, runFile), "name: foresee", "name: foresee-gated", 1)+"  gates: {preflight: [{name: drains, type: DrainSimulation, failureThreshold: 1}]}\n")
	code, out, stderr = run(t, "run", "-f", gated, "--fleet", fleetFile, "--home", home, "-o", "json")
	if want := "gate drains (DrainSimulation): 1 failed attempt(s), the threshold: 1 drain(s) will not finish: pool user, batch " + fmt.Sprint(blocked.Batch) + ", node " + blocked.Node + ": pod " + blocked.Pod; code != exitcode.Failed || !strings.Contains(stderr+out, want) {
		t.Errorf("run with a DrainSimulation gate: exit %d, want 1 and %q:\n%s%s", code, want, out, stderr)
	}
	// -o json: the report on stdout is the run itself, as data.
	var reported v1alpha1.UpdateRun
	if err := json.Unmarshal([]byte(out), &reported); err != nil || reported.Name != "foresee-gated" || reported.Status.Phase != v1alpha1.PhaseFailed || len(reported.Status.Stages) != 1 {
		t.Errorf("run -o json printed no run (%v):\n%s", err, out)
	}
	if v, err := client.Discovery().ServerVersion(); err != nil || v.GitVersion != toolchain.Previous().Version {
		t.Errorf("the control plane after a failed preflight: %v, %v; want it left at %s", v, err, toolchain.Previous().Version)
	}

	// Three soaks of 3h cannot fit a 4h window (with
	// undrainableNodeBehavior Cordon the upgrade goes past the ledger's
	// node): plan says so, and run --require-window-fit refuses to start.
	windowed := filepath.Join(dir, "windowed-fleet.yaml")
	writeTestFile(t, windowed, strings.TrimSuffix(readTestFile(t, fleetFile), "}\n")+`, maintenanceWindow: {schedule: {daily: {intervalDays: 1}}, startTime: "00:00", durationHours: 4}}
`)
	soaking := filepath.Join(dir, "soaking.yaml")
	writeTestFile(t, soaking, strings.NewReplacer("name: foresee", "name: foresee-soaking", "drainTimeout: 5s", "drainTimeout: 5s, nodeSoakDuration: 3h, undrainableNodeBehavior: Cordon").Replace(readTestFile(t, runFile)))
	code, table, _ = run(t, "plan", "-f", soaking, "--fleet", windowed, "--home", home, "--simulate")
	if want := "window: does not fit: 3 node(s) at maxSurge 1 need about "; code != exitcode.DrainBlocked || !strings.Contains(table, want) || !strings.Contains(table, "the maintenance window (every 1 day(s) at 00:00 UTC for 4h) lasts 4h, so the pool's upgrade would run about ") {
		t.Errorf("plan --simulate with a 4h window (exit %d) does not say %q:\n%s", code, want, table)
	}
	code, out, stderr = run(t, "run", "-f", soaking, "--fleet", windowed, "--home", home, "--require-window-fit")
	if code != exitcode.Usage || !strings.Contains(stderr, "run foresee-soaking is refused (--require-window-fit); nothing was started") || !strings.Contains(stderr, "cluster foresight, pool user does not fit") {
		t.Errorf("run --require-window-fit of a run that outlasts its window: exit %d, want 2 and the pool named:\n%s%s", code, out, stderr)
	}
	if _, err := (&store.Store{Dir: home}).Get("foresee-soaking"); err == nil {
		t.Error("a refused run was stored")
	}

	// The real run stops where the replay said.
	code, out, stderr = run(t, "run", "-f", runFile, "--fleet", fleetFile, "--home", home)
	if code != exitcode.Failed {
		t.Fatalf("run: exit %d, want 1\n%s%s", code, out, stderr)
	}
	for _, want := range []string{"draining " + blocked.Node + " did not finish", blocked.Pod, "PodDisruptionBudget pay/ledger"} {
		if !strings.Contains(stderr+out, want) {
			t.Errorf("the run's failure does not say %q, which the replay foresaw:\n%s%s", want, out, stderr)
		}
	}

	// Without the budget the resumed run completes, and its NodePool step
	// records what the pool took, for the next prediction.
	if err := client.PolicyV1().PodDisruptionBudgets("pay").Delete(ctx, "ledger", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr = run(t, "resume", "foresee", "--home", home); code != 0 {
		t.Fatalf("resume: exit %d\n%s%s", code, out, stderr)
	}
	got, err := (&store.Store{Dir: home}).Get("foresee")
	if err != nil {
		t.Fatal(err)
	}
	var rec *v1alpha1.NodePoolRecord
	for _, step := range got.Status.Stages[0].Clusters[0].Steps {
		if step.Kind == "NodePool" {
			rec = step.NodePool
		}
	}
	if rec == nil || rec.Provider != "local" || rec.Replaced == 0 || rec.DrainP50.Duration <= 0 || rec.DrainP95.Duration < rec.DrainP50.Duration {
		t.Errorf("the NodePool step's record %+v; want what its drains took on provider local", rec)
	}
	if tm := drainsim.History([]*v1alpha1.UpdateRun{got})("local"); !strings.Contains(tm.Drain.Source, "measured") {
		t.Errorf("timings after a measured run: %+v", tm)
	}

	// The gated run failed its preflight: retry makes a linked run at its
	// target, which finds the pool done and completes.
	if code, _, stderr = run(t, "retry", "foresee", "--home", home); code != exitcode.Usage || !strings.Contains(stderr, "run foresee left no cluster to retry (every cluster completed)") {
		t.Errorf("retry of a completed run: exit %d, %s", code, stderr)
	}
	if code, out, stderr = run(t, "retry", "foresee-gated", "--failed", "--home", home); code != 0 || !strings.Contains(stderr, "run foresee-gated-retry-1 retries 1 cluster(s) of run foresee-gated at its target") {
		t.Fatalf("retry of the gated run: exit %d\n%s%s", code, out, stderr)
	}
	if _, out, _ = run(t, "status", "foresee-gated-retry-1", "--home", home); !strings.Contains(out, "retries run foresee-gated: the clusters it left undone, at its target") {
		t.Errorf("status of the retry does not name the run it retries:\n%s", out)
	}
	if _, out, _ = run(t, "history", "--home", home); !regexp.MustCompile(`foresee-gated-retry-1\s+Completed.*foresee-gated\s*\n`).MatchString(out) {
		t.Errorf("history does not link the retry:\n%s", out)
	}
}

func readTestFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func writeTestFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitBudgetsObserved waits until the disruption controller has written
// every budget's status, as it stands before any upgrade.
func waitBudgetsObserved(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		list, err := client.PolicyV1().PodDisruptionBudgets("").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ok := true
		for _, b := range list.Items {
			ok = ok && b.Status.ObservedGeneration == b.Generation && b.Status.ExpectedPods > 0
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("budgets not observed: %+v", list.Items)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// podsByName maps each running pod of the apps' namespaces to its node.
func podsByName(t *testing.T, client kubernetes.Interface) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, ns := range []string{"shop", "pay"} {
		list, err := client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
				out[p.Namespace+"/"+p.Name] = p.Spec.NodeName
			}
		}
	}
	return out
}

func assertNothingCordoned(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	list, err := client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range list.Items {
		if n.Spec.Unschedulable {
			t.Errorf("node %s was cordoned by a read-only replay", n.Name)
		}
	}
}
