package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/procs"
	"upshift.dev/upshift/internal/sampleapp"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
)

// poolOnLatest checks that the pool has size nodes, all on the latest
// image, and that every node that ever carried it is one of them: no
// replacement was done twice.
func poolOnLatest(t *testing.T, client kubernetes.Interface, size int, seen map[string]bool) {
	t.Helper()
	list, err := client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{LabelSelector: localfleet.LabelNodePool + "=user"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != size {
		t.Errorf("the pool has %d nodes, want %d", len(list.Items), size)
	}
	latest := nodeimages.Default().Latest().Version
	final := map[string]bool{}
	for _, n := range list.Items {
		final[n.Name] = true
		if n.Labels[localfleet.LabelNodeImage] != latest {
			t.Errorf("node %s on %s, want %s", n.Name, n.Labels[localfleet.LabelNodeImage], latest)
		}
	}
	for name := range seen {
		if !final[name] {
			t.Errorf("node %s carried the new image and was removed: a replacement was done twice", name)
		}
	}
}

// deploy runs the sample app on a cluster and waits until it is available.
func deploy(t *testing.T, client kubernetes.Interface, app sampleapp.App) {
	t.Helper()
	if err := app.Deploy(t.Context(), client); err != nil {
		t.Fatal(err)
	}
	if err := app.WaitAvailable(t.Context(), client, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
}

// waitFirstReplaced returns once a node of the pool carries the latest
// image: a node-pool step is under way.
func waitFirstReplaced(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	latest := localfleet.LabelNodeImage + "=" + nodeimages.Default().Latest().Version
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if list, err := client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{LabelSelector: latest}); err == nil && len(list.Items) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no node was replaced within 2 minutes")
		}
	}
}

func imageRun(name string, group string) (*v1alpha1.UpdateRun, *v1alpha1.UpdateStrategySpec) {
	run, strategy := newRun(name, v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeNodeImageOnly, NodeImageSelection: &v1alpha1.NodeImageSelection{Type: v1alpha1.NodeImageLatest}}, stage("only", group))
	one := intstr.FromInt32(1)
	run.Spec.NodeUpgrade.MaxSurge = &one
	return run, strategy
}

// TestPDBThatNeverYields: a budget that allows no disruption holds a
// node-pool step up. Once the drain timeout has passed, the run fails
// with a status that names the budget and the pods it holds; the app
// keeps every pod ready. With the budget relaxed, a resume finishes the
// pool, each node replaced once.
func TestPDBThatNeverYields(t *testing.T) {
	const size = 2
	c := testfleet.Up(t, localfleet.Spec{Name: "stuck", KubernetesVersion: lower.Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: size}}})
	ctx := t.Context()
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	app := sampleapp.App{Namespace: "pay", Name: "ledger", Host: "ledger.example", Replicas: 2, MinAvailable: 2}
	deploy(t, client, app)
	seen := testfleet.NodesWithImage(t, client, nodeimages.Default().Latest().Version)
	e := newEngine(t, []v1alpha1.Cluster{member("stuck", "g")})
	run, strategy := imageRun("stuck", "g")
	run.Spec.NodeUpgrade.DrainTimeout = &metav1.Duration{Duration: 3 * time.Second}
	if _, err := e.Initialize(ctx, run, strategy); err != nil {
		t.Fatal(err)
	}
	// Bounded: a pass that waits for drains it never started hangs here.
	bounded, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	got, err := e.Drive(bounded, run.Name)
	if !errors.Is(err, engine.ErrFailed) {
		t.Fatalf("a run held up by a budget: %v, want it failed", err)
	}
	step := clusterStatus(got, "stuck")
	msg := got.Status.Message + "\n" + step.Message
	for _, s := range step.Steps {
		msg += "\n" + s.Message
	}
	for _, want := range []string{"PodDisruptionBudget pay/ledger", "allows 0 disruptions", "within 3s"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the status does not say %q:\n%s", want, msg)
		}
	}
	if n, err := app.ReadyPods(ctx, client); err != nil || n != 2 {
		t.Errorf("%d ready pods after the failed drain (%v), want 2", n, err)
	}

	// The fault is gone: the budget allows one disruption.
	pdb, err := client.PolicyV1().PodDisruptionBudgets("pay").Get(ctx, "ledger", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	one := intstr.FromInt32(1)
	pdb.Spec = policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: pdb.Spec.Selector}
	if _, err := client.PolicyV1().PodDisruptionBudgets("pay").Update(ctx, pdb, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.Drive(ctx, run.Name); err != nil {
		t.Fatalf("resume after the budget was relaxed: %v\n%s", err, testfleet.StatusOf(got))
	}
	poolOnLatest(t, client, size, seen())
	if n, err := app.ReadyPods(ctx, client); err != nil || n != 2 {
		t.Errorf("%d ready pods after the pool was replaced (%v), want 2", n, err)
	}
}

// TestEtcdOutageIsWaitedOut: the cluster's etcd is SIGKILLed in the
// middle of a node-pool step, after some nodes were replaced, and comes
// back a few seconds later. The run neither fails nor loses anything: it
// finishes once etcd is back, each node replaced once.
func TestEtcdOutageIsWaitedOut(t *testing.T) {
	const size = 6
	spec := localfleet.Spec{Name: "etcd-outage", KubernetesVersion: lower.Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: size}}}
	c := testfleet.Up(t, spec)
	ctx := t.Context()
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	seen := testfleet.NodesWithImage(t, client, nodeimages.Default().Latest().Version)
	e := newEngine(t, []v1alpha1.Cluster{member("etcd-outage", "g")})
	var mu sync.Mutex
	var waited []string
	e.Progress = func(ev engine.Event) {
		if ev.Type == "Waiting" {
			mu.Lock()
			waited = append(waited, ev.Message)
			mu.Unlock()
		}
	}
	run, strategy := imageRun("etcd-outage", "g")
	run.Spec.FailurePolicy.TransientErrorTimeout = &metav1.Duration{Duration: 2 * time.Minute}
	if _, err := e.Initialize(ctx, run, strategy); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := e.Drive(ctx, run.Name); done <- err }()
	waitFirstReplaced(t, client)
	recs, err := procs.LoadDir(filepath.Join(c.Dir(), "pids"))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(recs["etcd"].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("the run ended before etcd was killed, or at once after: %v", err)
	case <-time.After(5 * time.Second):
	}
	if _, err := testfleet.Fleet(t).Up(ctx, spec); err != nil {
		t.Fatalf("restarting etcd: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the run did not wait the etcd outage out: %v", err)
	}
	mu.Lock()
	t.Logf("%d transient errors met during the outage (the API server holds requests while etcd is away); the last: %s", len(waited), strings.Join(waited[max(0, len(waited)-1):], ""))
	mu.Unlock()
	poolOnLatest(t, client, size, seen())
}

// TestCrashCampaign SIGKILLs `upshift run` at random moments of in-place
// runs (a fresh cluster each, 1.36 → 1.37, control plane then pool) and
// resumes each: every round must end with nothing lost and nothing done
// twice (see testfleet.CrashCampaign). BenchmarkCrashCampaign runs 100.
func TestCrashCampaign(t *testing.T) {
	rounds := testfleet.CrashCampaign(t, 3, 7*time.Second)
	for i, r := range rounds {
		t.Logf("round %d: killed %v at %s in %q", i, r.Killed, r.At.Round(time.Millisecond), r.Step)
	}
}

// TestStateFolderTurnsReadOnly: in the middle of a node-pool step, the
// run's state folder becomes read-only (as a file system does after an I/O
// error: a read-only bind mount here, so root's rights do not hide it).
// The run stops rather than go on with a record that no longer says what
// was done, says why (the status could not be saved: read-only file
// system) and what to do, and the app keeps its pods. Once the folder is
// writable again, a resume finishes the pool, each node replaced once.
func TestStateFolderTurnsReadOnly(t *testing.T) {
	const size = 4
	c := testfleet.Up(t, localfleet.Spec{Name: "readonly", KubernetesVersion: lower.Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: size}}})
	ctx := t.Context()
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	app := sampleapp.App{Namespace: "shop", Name: "web", Host: "web.example", Replicas: 2, MinAvailable: 1}
	deploy(t, client, app)
	seen := testfleet.NodesWithImage(t, client, nodeimages.Default().Latest().Version)
	e := newEngine(t, []v1alpha1.Cluster{member("readonly", "g")})
	dir := e.Store.(*store.Store).Dir
	run, strategy := imageRun("readonly", "g")
	if _, err := e.Initialize(ctx, run, strategy); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := e.Drive(ctx, run.Name); done <- err }()
	waitFirstReplaced(t, client)
	if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount the state folder (needs root with CAP_SYS_ADMIN): %v", err)
	}
	mounted := true
	unmount := func() {
		if mounted {
			if err := syscall.Unmount(dir, 0); err != nil {
				t.Errorf("unmounting %s: %v", dir, err)
			}
			mounted = false
		}
	}
	t.Cleanup(unmount)
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("making the state folder read-only: %v", err)
	}
	var stopped error
	select {
	case stopped = <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("the run neither stopped nor finished within 3 minutes of its state folder turning read-only")
	}
	if !errors.Is(stopped, engine.ErrStatusNotSaved) || !errors.Is(stopped, engine.ErrStopped) {
		t.Fatalf("the run ended with %v, want it stopped on a status it could not save", stopped)
	}
	for _, want := range []string{"read-only file system", "upshift resume readonly"} {
		if !strings.Contains(stopped.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, stopped)
		}
	}
	t.Logf("stopped: %v", stopped)
	if n, err := app.ReadyPods(ctx, client); err != nil || n != 2 {
		t.Errorf("%d ready pods after the stop (%v), want 2", n, err)
	}

	// The fault is gone.
	unmount()
	got, err := e.Drive(ctx, run.Name)
	if err != nil {
		t.Fatalf("resume once the state folder is writable: %v\n%s", err, testfleet.StatusOf(got))
	}
	poolOnLatest(t, client, size, seen())
	if n, err := app.ReadyPods(ctx, client); err != nil || n != 2 {
		t.Errorf("%d ready pods after the pool was replaced (%v), want 2", n, err)
	}
}
