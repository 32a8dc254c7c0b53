package hub_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/crds"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) {
	builtin.Register()
	// The tests' own controller-runtime clients have nothing to log.
	log.SetLogger(logr.Discard())
	testfleet.Main(m)
}

type replica struct {
	cmd *exec.Cmd
	out *bytes.Buffer
	mu  *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (r *replica) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

func startReplica(t *testing.T, kubeconfig, identity string, flags ...string) *replica {
	return startReplicaEnv(t, nil, kubeconfig, identity, flags...)
}

// startReplicaEnv is startReplica with more environment variables.
func startReplicaEnv(t *testing.T, env []string, kubeconfig, identity string, flags ...string) *replica {
	args := append([]string{"hub", "run", "--kubeconfig", kubeconfig, "--namespace", "default", "--identity", identity, "--lease-duration", "4s"}, flags...)
	r := &replica{cmd: testfleet.CLI(args...), out: &bytes.Buffer{}, mu: &sync.Mutex{}}
	r.cmd.Env = append(r.cmd.Env, env...)
	r.cmd.Stdout, r.cmd.Stderr = lockedWriter{r.mu, r.out}, lockedWriter{r.mu, r.out}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.cmd.Process.Kill(); _ = r.cmd.Wait() })
	return r
}

// upHub starts a local hub cluster with upshift's CRDs installed, and
// returns its kubeconfig and a client of it.
func upHub(t *testing.T, name string) (kubeconfig string, cfg *rest.Config, c client.Client) {
	t.Helper()
	hubCluster := testfleet.Up(t, localfleet.Spec{Name: name, KubernetesVersion: toolchain.Latest().Minor})
	cfg, err := clientcmd.BuildConfigFromFlags("", hubCluster.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := crds.Install(t.Context(), cfg, time.Minute); err != nil {
		t.Fatal(err)
	}
	if c, err = client.New(cfg, client.Options{Scheme: hubstore.Scheme()}); err != nil {
		t.Fatal(err)
	}
	return hubCluster.KubeconfigPath(), cfg, c
}

func holder(c client.Client, t *testing.T, namespace, name string) string {
	lease := &coordinationv1.Lease{}
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: namespace, Name: name}, lease); err != nil || lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

func waitFor(t *testing.T, what string, replicas []*replica, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			var logs []string
			for _, r := range replicas {
				logs = append(logs, r.output())
			}
			t.Fatalf("timed out waiting for %s:\n%s", what, strings.Join(logs, "\n----\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killLeader SIGKILLs whichever of the two replicas leads, and returns
// the other's identity and the moment of the kill.
func killLeader(t *testing.T, c client.Client, replicas []*replica) (standby string, killed time.Time) {
	t.Helper()
	victim, standby := replicas[0], "replica-b"
	if holder(c, t, "default", "upshift-hub") == "replica-b" {
		victim, standby = replicas[1], "replica-a"
	}
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	return standby, time.Now()
}

// takeover waits until standby holds run's driver lease, and returns how
// long after the kill that was.
func takeover(t *testing.T, c client.Client, replicas []*replica, run, standby string, killed time.Time) time.Duration {
	t.Helper()
	waitFor(t, "the standby to drive the run", replicas, func() bool { return holder(c, t, "default", run+"-driver") == standby })
	return time.Since(killed).Round(100 * time.Millisecond)
}

// waitCompleted waits until the run completes; a run that fails ends the
// test with its status.
func waitCompleted(t *testing.T, st *hubstore.Store, replicas []*replica, run string) {
	t.Helper()
	waitFor(t, "the run to complete", replicas, func() bool {
		r, err := st.Get(run)
		if err == nil && r.Status.Phase == v1alpha1.PhaseFailed {
			t.Fatalf("the run failed: %s %s", r.Status.Message, testfleet.StatusOf(r))
		}
		return err == nil && r.Status.Phase == v1alpha1.PhaseCompleted
	})
}

// TestHubFailover runs two hub replicas against a real hub cluster with a
// real member: objects applied as kubectl would (Cluster, UpdateStrategy,
// UpdateRun) start a run; the leader is SIGKILLed while the run waits for
// its approval (parked: Waiting, with no driver's lease held); the approval is given through an ApprovalRequest; the
// standby takes the run over and finishes it, nothing done twice. A run
// that cannot start says why in its status.
func TestHubFailover(t *testing.T) {
	kubeconfig, _, c := upHub(t, "hub")
	testfleet.Up(t, localfleet.Spec{Name: "member", KubernetesVersion: toolchain.Latest().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 3}}})
	ctx := t.Context()
	// The preflight gate below is a Command gate: the operator allows them.
	replicas := []*replica{startReplica(t, kubeconfig, "replica-a", "--allow-exec"), startReplica(t, kubeconfig, "replica-b", "--allow-exec")}
	waitFor(t, "a leader", replicas, func() bool { return holder(c, t, "default", "upshift-hub") != "" })

	objects := []client.Object{
		&v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "member", Namespace: "default"},
			Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: "member"}, Group: "all"}},
		&v1alpha1.UpdateStrategy{ObjectMeta: metav1.ObjectMeta{Name: "rings", Namespace: "default"},
			Spec: v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "all", Groups: []v1alpha1.GroupRef{{Name: "all"}},
				BeforeStageTasks: []v1alpha1.StageTask{{Type: v1alpha1.TaskApproval, Name: "go"}}}}}},
		&v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "images", Namespace: "default"},
			Spec: v1alpha1.UpdateRunSpec{StrategyRef: &v1alpha1.StrategyRef{Name: "rings"},
				Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeNodeImageOnly, NodeImageSelection: &v1alpha1.NodeImageSelection{Type: v1alpha1.NodeImageLatest}}}},
		&v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "no-strategy", Namespace: "default"},
			Spec: v1alpha1.UpdateRunSpec{StrategyRef: &v1alpha1.StrategyRef{Name: "nope"}, Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeNodeImageOnly}}},
	}
	for _, o := range objects {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	st := &hubstore.Store{Client: c, Namespace: "default"}
	waitFor(t, "the run to wait for its approval", replicas, func() bool {
		r, err := st.Get("images")
		return err == nil && len(r.Status.Stages) == 1 && r.Status.Stages[0].BeforeTasks[0].Phase == v1alpha1.PhaseWaiting
	})
	waitFor(t, "the run without a strategy to say why", replicas, func() bool {
		r, err := st.Get("no-strategy")
		return err == nil && r.Status.Phase == v1alpha1.PhaseFailed && strings.Contains(r.Status.Message, `spec.strategyRef names UpdateStrategy "nope"`)
	})

	// A run waiting for its approval is parked: Waiting, and held by no
	// driver (no goroutine, no lease) until the approval wakes it.
	waitFor(t, "the waiting run to park", replicas, func() bool {
		r, err := st.Get("images")
		return err == nil && r.Status.Phase == v1alpha1.PhaseWaiting && holder(c, t, "default", "images-driver") == ""
	})
	standby, killed := killLeader(t, c, replicas)
	ar, err := st.Request(ctx, "images", "stage/all", "")
	if err != nil {
		t.Fatal(err)
	}
	meta.SetStatusCondition(&ar.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionApproved, Status: metav1.ConditionTrue, Reason: "Approved", Message: "go"})
	ar.Status.ApprovedBy = "alice"
	if err := c.Status().Update(ctx, ar); err != nil {
		t.Fatal(err)
	}
	t.Logf("takeover: the standby drives the run %s after the leader was killed (lease 4s)", takeover(t, c, replicas, "images", standby, killed))
	waitCompleted(t, st, replicas, "images")

	m, _ := testfleet.Fleet(t).Get("member")
	mc, _ := m.Client()
	nodes, err := mc.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: localfleet.LabelNodePool + "=user"})
	if err != nil {
		t.Fatal(err)
	}
	latest := nodeimages.Default().Latest().Version
	if len(nodes.Items) != 3 {
		t.Errorf("the pool has %d nodes, want 3 (one added or removed twice)", len(nodes.Items))
	}
	for _, n := range nodes.Items {
		if n.Labels[localfleet.LabelNodeImage] != latest {
			t.Errorf("node %s on %s", n.Name, n.Labels[localfleet.LabelNodeImage])
		}
	}
	events, _ := st.Events("images")
	initialized := 0
	for _, ev := range events {
		if ev.Type == "Initialized" {
			initialized++
		}
	}
	if initialized != 1 {
		t.Errorf("the run was initialized %d times", initialized)
	}
	r, _ := st.Get("images")
	if got := r.Status.Stages[0].BeforeTasks[0].ApprovedBy; got != "alice" {
		t.Errorf("approved by %q", got)
	}

	// A run that failed stays failed until someone resumes it; `upshift
	// resume --context HUB` then drives it on from where it failed. A run that
	// never started cannot be resumed: it says what to do instead.
	kubeconfigFlags := []string{"--context", "hub", "--kubeconfig", kubeconfig, "-n", "default"}
	if code, out := cliResult(t, append([]string{"resume", "no-strategy"}, kubeconfigFlags...)...); code != 2 || !strings.Contains(out, "never started") {
		t.Errorf("resume --hub of a run that never started: exit %d\n%s", code, out)
	}
	marker := filepath.Join(t.TempDir(), "ready")
	gated := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "gated", Namespace: "default"},
		Spec: v1alpha1.UpdateRunSpec{StrategyRef: &v1alpha1.StrategyRef{Name: "rings"},
			Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeNodeImageOnly, NodeImageSelection: &v1alpha1.NodeImageSelection{Type: v1alpha1.NodeImageLatest}},
			Gates: v1alpha1.RunGates{Preflight: []v1alpha1.GateSpec{{Name: "ready", Type: v1alpha1.GateCommand, FailureThreshold: 1,
				Interval: &metav1.Duration{Duration: 100 * time.Millisecond}, Command: &v1alpha1.CommandGate{Command: []string{"test", "-e", marker}}}}}}}
	if err := c.Create(ctx, gated); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the gated run to wait for its approval", replicas, func() bool {
		r, err := st.Get("gated")
		return err == nil && len(r.Status.Stages) == 1 && r.Status.Stages[0].BeforeTasks[0].Phase == v1alpha1.PhaseWaiting
	})
	if code, out := cliResult(t, append([]string{"approve", "gated", "--stage", "all", "--by", "alice"}, kubeconfigFlags...)...); code != 0 {
		t.Fatalf("approve --hub: exit %d\n%s", code, out)
	}
	waitFor(t, "the gated run to fail", replicas, func() bool {
		r, err := st.Get("gated")
		return err == nil && r.Status.Phase == v1alpha1.PhaseFailed
	})
	time.Sleep(2 * time.Second) // a requeue or two of the failed run
	if r, _ := st.Get("gated"); r.Status.Phase != v1alpha1.PhaseFailed {
		t.Fatalf("a failed run went on by itself: %s", testfleet.StatusOf(r))
	}
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := cliResult(t, append([]string{"resume", "gated"}, kubeconfigFlags...)...)
	r, _ = st.Get("gated")
	if code != 0 || r.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("resume --hub of a failed run: exit %d\n%s\nrun: %s", code, out, testfleet.StatusOf(r))
	}
	if hubstore.ResumePending(r) {
		t.Errorf("the resume request is still pending on a run that completed: %q, observed %q", r.Annotations[hubstore.AnnotationResume], r.Status.ResumeObserved)
	}
	gate := r.Status.Stages[0].Clusters[0].Steps[0]
	if gate.Kind != "Preflight" || gate.Phase != v1alpha1.PhaseCompleted {
		t.Errorf("the preflight gate after the resume: %+v", gate)
	}
}
