package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/autoupgrade"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/procs"
	"upshift.dev/upshift/internal/providers/cluster/local"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) {
	builtin.Register()
	testfleet.Main(m)
}

var (
	lower  = toolchain.Previous()
	higher = toolchain.Latest()
)

func member(name, group string) v1alpha1.Cluster {
	return v1alpha1.Cluster{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "Cluster"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: name}, Group: group},
	}
}

// upAll starts local clusters in parallel.
func upAll(t *testing.T, nodes int, names ...string) {
	t.Helper()
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			testfleet.Up(t, localfleet.Spec{Name: n, KubernetesVersion: lower.Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: nodes}}})
		}()
	}
	wg.Wait()
}

func newEngine(t *testing.T, fleet []v1alpha1.Cluster) *engine.Engine {
	return &engine.Engine{
		Store:   &store.Store{Dir: t.TempDir()},
		Fleet:   fleet,
		Poll:    100 * time.Millisecond,
		Resolve: local.Resolver(testfleet.Fleet(t)),
	}
}

func newRun(name string, upgrade v1alpha1.UpgradeSpec, stages ...v1alpha1.StageSpec) (*v1alpha1.UpdateRun, *v1alpha1.UpdateStrategySpec) {
	strategy := &v1alpha1.UpdateStrategySpec{Stages: stages}
	return &v1alpha1.UpdateRun{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "UpdateRun"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.UpdateRunSpec{
			Strategy:    strategy,
			Upgrade:     upgrade,
			NodeUpgrade: v1alpha1.NodeUpgradeSpec{DrainTimeout: &metav1.Duration{Duration: time.Minute}},
		},
	}, strategy
}

func stage(name string, groups ...string) v1alpha1.StageSpec {
	s := v1alpha1.StageSpec{Name: name}
	for _, g := range groups {
		s.Groups = append(s.Groups, v1alpha1.GroupRef{Name: g})
	}
	return s
}

// waitFor polls the stored run until cond holds.
func waitFor(t *testing.T, st store.Runs, name string, what string, cond func(*v1alpha1.UpdateRun) bool) *v1alpha1.UpdateRun {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if run, err := st.Get(name); err == nil && cond(run) {
			return run
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
	return nil
}

func clusterStatus(run *v1alpha1.UpdateRun, name string) v1alpha1.StageClusterStatus {
	for _, s := range run.Status.Stages {
		for _, c := range s.Clusters {
			if c.Name == name {
				return c
			}
		}
	}
	return v1alpha1.StageClusterStatus{}
}

// TestStagedRun runs three stages over four clusters: stages in order, the
// two groups of the middle stage in parallel, and an approval that holds
// production until it is given.
func TestStagedRun(t *testing.T) {
	upAll(t, 1, "dev", "qa-a", "qa-b", "prod")
	fleet := []v1alpha1.Cluster{member("dev", "dev"), member("qa-a", "qa-a"), member("qa-b", "qa-b"), member("prod", "prod")}
	e := newEngine(t, fleet)
	prodStage := stage("production", "prod")
	prodStage.BeforeStageTasks = []v1alpha1.StageTask{{Type: v1alpha1.TaskApproval}}
	run, strategy := newRun("fleet-to-1-34", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: higher.Minor},
		stage("development", "dev"), stage("qa", "qa-a", "qa-b"), prodStage)
	run.Spec.Gates.PostUpgrade = []v1alpha1.GateSpec{
		{Name: "healthy", Type: v1alpha1.GateKubernetesHealth, Interval: &metav1.Duration{Duration: time.Second}},
		{Name: "smoke", Type: v1alpha1.GateCommand, Command: &v1alpha1.CommandGate{Command: []string{"sh", "-c", `test -s "$KUBECONFIG" && echo "smoke ok for $UPSHIFT_CLUSTER"`}}},
	}
	ctx := t.Context()
	if _, err := e.Initialize(ctx, run, strategy); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := e.Drive(ctx, run.Name); done <- err }()

	held := waitFor(t, e.Store, run.Name, "the approval before production", func(r *v1alpha1.UpdateRun) bool {
		return len(r.Status.Stages) == 3 && r.Status.Stages[2].BeforeTasks[0].Phase == v1alpha1.PhaseWaiting
	})
	if held.Status.Stages[1].Phase != v1alpha1.PhaseCompleted || clusterStatus(held, "prod").Phase != v1alpha1.PhaseNotStarted {
		t.Fatalf("while waiting for approval: qa %s, prod %s", held.Status.Stages[1].Phase, clusterStatus(held, "prod").Phase)
	}
	time.Sleep(time.Second) // still held a moment later
	if r, _ := e.Store.Get(run.Name); clusterStatus(r, "prod").Phase != v1alpha1.PhaseNotStarted {
		t.Fatal("production started without approval")
	}
	if err := e.Store.Approve(run.Name, store.Approval{Key: "stage/production", By: "alice", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("run did not finish")
	}
	final, err := e.Store.Get(run.Name)
	if err != nil {
		t.Fatal(err)
	}
	if final.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("run %s: %s", final.Status.Phase, final.Status.Message)
	}
	if a := final.Status.Stages[2].BeforeTasks[0]; a.ApprovedBy != "alice" || a.ApprovedAt == nil {
		t.Errorf("approval not recorded: %+v", a)
	}
	dev, qaA, qaB, prod := clusterStatus(final, "dev"), clusterStatus(final, "qa-a"), clusterStatus(final, "qa-b"), clusterStatus(final, "prod")
	if qaA.Start.Before(dev.End) || qaB.Start.Before(dev.End) || prod.Start.Before(qaA.End) || prod.Start.Before(qaB.End) {
		t.Errorf("stages overlapped: dev ends %s, qa starts %s/%s and ends %s/%s, prod starts %s", dev.End, qaA.Start, qaB.Start, qaA.End, qaB.End, prod.Start)
	}
	if !qaA.Start.Before(qaB.End) || !qaB.Start.Before(qaA.End) {
		t.Errorf("the qa groups did not run in parallel: qa-a %s–%s, qa-b %s–%s", qaA.Start, qaA.End, qaB.Start, qaB.End)
	}
	for _, c := range fleet {
		got, err := local.New(testfleet.Fleet(t)).Get(ctx, c.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got.KubernetesVersion != higher.Version || got.NodePools[0].KubernetesVersion != higher.Version {
			t.Errorf("%s after the run: %+v", c.Name, got)
		}
	}
	if out := clusterStatus(final, "qa-b").Steps[2].Output; !strings.Contains(out, "smoke ok for qa-b") {
		t.Errorf("command gate output not kept: %q", out)
	}
	events, _ := e.Store.Events(run.Name)
	if len(events) < 20 {
		t.Errorf("audit log has %d events", len(events))
	}
}

// TestTwoHopRun upgrades a cluster two minors, from the oldest release to
// the newest: the plan shows one ControlPlane step per minor, the control
// plane passes through the middle release, and the node pool is replaced
// once, straight at the target.
func TestTwoHopRun(t *testing.T) {
	oldest, middle := toolchain.Oldest(), toolchain.Previous()
	if oldest == middle {
		t.Fatal("the local fleet offers fewer than three minors")
	}
	testfleet.Up(t, localfleet.Spec{Name: "hops", KubernetesVersion: oldest.Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 1}}})
	e := newEngine(t, []v1alpha1.Cluster{member("hops", "hops")})
	run, strategy := newRun("two-hops", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: higher.Minor}, stage("all", "hops"))
	ctx := t.Context()
	planned, err := e.Initialize(ctx, run, strategy)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, st := range planned.Stages[0].Groups[0].Clusters[0].Steps {
		names = append(names, st.Name())
	}
	want := []string{"ControlPlane " + middle.Version, "ControlPlane " + higher.Version, "NodePool user"}
	if !slices.Equal(names, want) {
		t.Fatalf("planned steps %q, want %q", names, want)
	}
	final, err := e.Drive(ctx, run.Name)
	if err != nil {
		t.Fatal(err)
	}
	if final.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("run %s: %s", final.Status.Phase, final.Status.Message)
	}
	steps := clusterStatus(final, "hops").Steps
	if !strings.Contains(steps[0].Message, middle.Version) || steps[0].End == nil || steps[1].Start == nil || steps[1].Start.Before(steps[0].End) {
		t.Errorf("the first hop: %+v, then %+v", steps[0], steps[1])
	}
	got, err := local.New(testfleet.Fleet(t)).Get(ctx, "hops")
	if err != nil {
		t.Fatal(err)
	}
	if got.KubernetesVersion != higher.Version || got.NodePools[0].KubernetesVersion != higher.Version {
		t.Errorf("after the run: control plane %s, pool %s; want %s", got.KubernetesVersion, got.NodePools[0].KubernetesVersion, higher.Version)
	}
}

// TestMaintenanceWindow holds a cluster's steps until its window opens,
// on a clock set 3 s before the window's first opening, and fails a run
// whose window never opens without touching the cluster.
func TestMaintenanceWindow(t *testing.T) {
	upAll(t, 1, "windowed", "blacked")
	opening := time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)
	offset := time.Until(opening.Add(-time.Minute)) // the plan is made a minute before the window opens
	daily := &v1alpha1.MaintenanceWindow{Schedule: v1alpha1.WindowSchedule{Daily: &v1alpha1.DailySchedule{IntervalDays: 1}}, StartTime: "00:00", DurationHours: 4, StartDate: "2030-01-01"}
	windowed, blacked := member("windowed", "windowed"), member("blacked", "blacked")
	windowed.Spec.MaintenanceWindow = daily
	blacked.Spec.MaintenanceWindow = daily.DeepCopy()
	blacked.Spec.MaintenanceWindow.NotAllowedDates = []v1alpha1.DateSpan{{Start: "2029-01-01", End: "2099-12-31"}}
	ctx := t.Context()

	e := newEngine(t, []v1alpha1.Cluster{windowed})
	e.Now = func() time.Time { return time.Now().Add(offset) }
	var events []engine.Event
	var mu sync.Mutex
	e.Progress = func(ev engine.Event) { mu.Lock(); events = append(events, ev); mu.Unlock() }
	run, strategy := newRun("in-window", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeControlPlaneOnly, KubernetesVersion: higher.Minor}, stage("all", "windowed"))
	planned, err := e.Initialize(ctx, run, strategy)
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(planned.Stages[0].Groups[0].Clusters[0].Notes, "; ")
	if !strings.Contains(notes, "upshift's maintenance window: every 1 day(s) at 00:00 UTC for 4h; opens Tue 1 Jan 00:00 UTC") {
		t.Errorf("plan notes %q do not show the window", notes)
	}
	// The clock is set again here, so the window opens 3 s after the
	// drive starts however long the set-up and the plan took.
	offset = time.Until(opening.Add(-3 * time.Second))
	start := time.Now()
	final, err := e.Drive(ctx, run.Name)
	if err != nil {
		t.Fatal(err)
	}
	cp := clusterStatus(final, "windowed").Steps[0]
	if final.Status.Phase != v1alpha1.PhaseCompleted || cp.Start == nil || cp.Start.Sub(start) < 2*time.Second {
		t.Errorf("run %s; the control plane step started %v after the drive, before its window opened", final.Status.Phase, cp.Start.Sub(start))
	}
	mu.Lock()
	waited := slices.ContainsFunc(events, func(ev engine.Event) bool {
		return ev.Type == "Waiting" && ev.Cluster == "windowed" && strings.Contains(ev.Message, "waiting for the maintenance window (every 1 day(s) at 00:00 UTC for 4h): opens Tue 1 Jan 00:00 UTC, in 3s")
	})
	mu.Unlock()
	if !waited {
		t.Errorf("no Waiting event says which window and when: %+v", events)
	}
	if c, _ := testfleet.Fleet(t).Get("windowed"); c.KubernetesVersion != higher.Version {
		t.Errorf("after the window opened: %s", c.KubernetesVersion)
	}

	// A cluster without a window of its own waits for its group's (in
	// the strategy). A stop request ends the wait: the run is Stopped,
	// the step still says what it waits for, and the cluster is untouched.
	later := member("blacked", "blacked")
	held := newEngine(t, []v1alpha1.Cluster{later})
	held.Now = e.Now
	run3, strategy3 := newRun("held", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeControlPlaneOnly, KubernetesVersion: higher.Minor}, stage("all", "blacked"))
	strategy3.Stages[0].Groups[0].MaintenanceWindow = daily.DeepCopy()
	strategy3.Stages[0].Groups[0].MaintenanceWindow.StartTime = "01:00"
	planned3, err := held.Initialize(ctx, run3, strategy3)
	if err != nil {
		t.Fatal(err)
	}
	if notes := strings.Join(planned3.Stages[0].Groups[0].Clusters[0].Notes, "; "); !strings.Contains(notes, "upshift's maintenance window (group blacked's): every 1 day(s) at 01:00 UTC") {
		t.Errorf("plan notes %q do not show the group's window", notes)
	}
	stopped := make(chan error, 1)
	go func() { _, err := held.Drive(ctx, run3.Name); stopped <- err }()
	waiting := waitFor(t, held.Store, run3.Name, "the step to wait for its window", func(r *v1alpha1.UpdateRun) bool {
		return len(r.Status.Stages) > 0 && clusterStatus(r, "blacked").Steps[0].Phase == v1alpha1.PhaseWaiting
	})
	if msg := clusterStatus(waiting, "blacked").Steps[0].Message; !strings.Contains(msg, "waiting for group blacked's maintenance window (every 1 day(s) at 01:00 UTC for 4h): opens Tue 1 Jan 01:00 UTC, in ") {
		t.Errorf("waiting step says %q", msg)
	}
	if err := held.Store.SetState(run3.Name, v1alpha1.StateStop); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-stopped:
		if !errors.Is(err, engine.ErrStopped) {
			t.Fatalf("drive after stop during the wait: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("stop did not end the wait for the window")
	}

	never := newEngine(t, []v1alpha1.Cluster{blacked})
	never.Now = e.Now
	run2, strategy2 := newRun("never-open", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeControlPlaneOnly, KubernetesVersion: higher.Minor}, stage("all", "blacked"))
	if _, err := never.Initialize(ctx, run2, strategy2); err != nil {
		t.Fatal(err)
	}
	if _, err := never.Drive(ctx, run2.Name); err == nil || !strings.Contains(err.Error(), "does not open in the next 18 months: change its schedule or its notAllowedDates") {
		t.Fatalf("drive with a window that never opens: %v", err)
	}
	if c, _ := testfleet.Fleet(t).Get("blacked"); c.KubernetesVersion != lower.Version {
		t.Errorf("a cluster whose window never opens was upgraded to %s", c.KubernetesVersion)
	}
}

// TestFailingGatesHaltTheRun checks that a failing Command gate halts the
// run with the step, exit code and output in status, and that a failing
// preflight HTTP gate stops a run before it changes anything.
func TestFailingGatesHaltTheRun(t *testing.T) {
	upAll(t, 1, "gated", "spare")
	e := newEngine(t, []v1alpha1.Cluster{member("gated", "g"), member("spare", "g")})
	ctx := t.Context()

	run, strategy := newRun("bad-post-gate", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeNodeImageOnly, NodeImageSelection: &v1alpha1.NodeImageSelection{Type: v1alpha1.NodeImageLatest}}, stage("only", "g"))
	run.Spec.Gates.PostUpgrade = []v1alpha1.GateSpec{{Name: "e2e", Type: v1alpha1.GateCommand, FailureThreshold: 1, Command: &v1alpha1.CommandGate{Command: []string{"sh", "-c", "echo checkout flow broken; exit 3"}}}}
	if _, err := e.Initialize(ctx, run, strategy); err != nil {
		t.Fatal(err)
	}
	_, err := e.Drive(ctx, run.Name)
	if !errors.Is(err, engine.ErrFailed) {
		t.Fatalf("drive: %v", err)
	}
	final, _ := e.Store.Get(run.Name)
	gated := clusterStatus(final, "gated")
	post := gated.Steps[len(gated.Steps)-1]
	if final.Status.Phase != v1alpha1.PhaseFailed || gated.Phase != v1alpha1.PhaseFailed || post.Phase != v1alpha1.PhaseFailed ||
		!strings.Contains(post.Message, "exited 3") || !strings.Contains(post.Output, "checkout flow broken") {
		t.Errorf("status after a failing gate: run %s, cluster %s, step %+v", final.Status.Phase, gated.Phase, post)
	}
	if spare := clusterStatus(final, "spare"); spare.Phase == v1alpha1.PhaseRunning {
		t.Errorf("spare left Running: %+v", spare)
	}
	if final.Status.NodeImage != nodeimages.Default().Latest().Version {
		t.Errorf("Latest node image resolved to %q", final.Status.NodeImage)
	}

	run2, strategy2 := newRun("bad-preflight", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: higher.Minor}, stage("only", "g"))
	run2.Spec.Gates.Preflight = []v1alpha1.GateSpec{{Name: "site-up", Type: v1alpha1.GateHTTP, FailureThreshold: 2, Interval: &metav1.Duration{Duration: 100 * time.Millisecond},
		HTTP: &v1alpha1.HTTPGate{URL: "http://127.0.0.1:1/healthz"}}}
	if _, err := e.Initialize(ctx, run2, strategy2); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Drive(ctx, run2.Name); !errors.Is(err, engine.ErrFailed) {
		t.Fatalf("drive: %v", err)
	}
	final2, _ := e.Store.Get(run2.Name)
	pre := clusterStatus(final2, "gated").Steps[0]
	if pre.Name != "Preflight" || pre.Phase != v1alpha1.PhaseFailed || !strings.Contains(pre.Message, "site-up") {
		t.Errorf("preflight step: %+v", pre)
	}
	if c, _ := testfleet.Fleet(t).Get("gated"); c.KubernetesVersion != lower.Version {
		t.Errorf("a failed preflight changed the control plane to %s", c.KubernetesVersion)
	}

	// The scans as preflight gates: an object on a removed API, a naked pod.
	lc, _ := testfleet.Fleet(t).Get("gated")
	client, err := lc.Client()
	if err != nil {
		t.Fatal(err)
	}
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "legacy", Annotations: map[string]string{
		"kubectl.kubernetes.io/last-applied-configuration": `{"apiVersion":"extensions/v1beta1","kind":"Ingress"}`}},
		Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}
	if _, err := client.NetworkingV1().Ingresses("default").Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "debug"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "sh", Image: "busybox"}}}}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	only := newEngine(t, []v1alpha1.Cluster{member("gated", "g")})
	for _, tc := range []struct {
		gate v1alpha1.GateSpec
		want string
	}{
		{v1alpha1.GateSpec{Name: "no-removed-apis", Type: v1alpha1.GateDeprecatedAPIs, FailureThreshold: 1}, "Ingress default/legacy (extensions/v1beta1"},
		{v1alpha1.GateSpec{Name: "drain-ready", Type: v1alpha1.GateReadiness, FailureThreshold: 1}, "naked-pod Pod default/debug"},
	} {
		r, s := newRun("scan-gate-"+tc.gate.Name, v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: higher.Minor}, stage("only", "g"))
		r.Spec.Gates.Preflight = []v1alpha1.GateSpec{tc.gate}
		if _, err := only.Initialize(ctx, r, s); err != nil {
			t.Fatal(err)
		}
		if _, err := only.Drive(ctx, r.Name); !errors.Is(err, engine.ErrFailed) {
			t.Fatalf("%s: drive: %v", tc.gate.Name, err)
		}
		got, _ := only.Store.Get(r.Name)
		if pre := clusterStatus(got, "gated").Steps[0]; pre.Phase != v1alpha1.PhaseFailed || !strings.Contains(pre.Message, tc.want) || pre.Output == "" {
			t.Errorf("%s gate: %+v", tc.gate.Name, pre)
		}
	}
}

// TestStopResumeSkip stops a run during a soak, resumes it with the soak
// and one cluster skipped, and checks the skipped cluster is untouched.
func TestStopResumeSkip(t *testing.T) {
	upAll(t, 1, "first", "second")
	e := newEngine(t, []v1alpha1.Cluster{member("first", "one"), member("second", "two")})
	ctx := t.Context()
	s1 := stage("one", "one")
	s1.AfterStageWaitInSeconds = 600
	run, strategy := newRun("stoppable", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeControlPlaneOnly, KubernetesVersion: higher.Minor}, s1, stage("two", "two"))
	if _, err := e.Initialize(ctx, run, strategy); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := e.Drive(ctx, run.Name); done <- err }()
	soaking := waitFor(t, e.Store, run.Name, "the soak", func(r *v1alpha1.UpdateRun) bool {
		return len(r.Status.Stages) > 0 && len(r.Status.Stages[0].AfterTasks) > 0 && r.Status.Stages[0].AfterTasks[0].Phase == v1alpha1.PhaseRunning
	})
	// The soak says until when, what is left, and how to end it now.
	if msg := soaking.Status.Stages[0].AfterTasks[0].Message; !strings.Contains(msg, "soaking until") || !strings.Contains(msg, "left") ||
		!strings.Contains(msg, "upshift skip stoppable --stage one --task afterStageWait ends it now") {
		t.Errorf("the soak's status says %q", msg)
	}
	if err := e.Store.SetState(run.Name, v1alpha1.StateStop); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, engine.ErrStopped) {
			t.Fatalf("drive after stop: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("stop did not end the soak")
	}
	stopped, _ := e.Store.Get(run.Name)
	if stopped.Status.Phase != v1alpha1.PhaseStopped || clusterStatus(stopped, "first").Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("after stop: run %s, first %s", stopped.Status.Phase, clusterStatus(stopped, "first").Phase)
	}

	for _, key := range []string{"stage/one/afterStageWait", "cluster/second"} {
		if err := e.Store.Skip(run.Name, store.Approval{Key: key, By: "bob", Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Store.SetState(run.Name, v1alpha1.StateRun); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Drive(ctx, run.Name); err != nil {
		t.Fatal(err)
	}
	final, _ := e.Store.Get(run.Name)
	if final.Status.Phase != v1alpha1.PhaseCompleted || final.Status.Stages[0].AfterTasks[0].Phase != v1alpha1.PhaseSkipped || clusterStatus(final, "second").Phase != v1alpha1.PhaseSkipped {
		t.Errorf("after resume: run %s, soak %s, second %s", final.Status.Phase, final.Status.Stages[0].AfterTasks[0].Phase, clusterStatus(final, "second").Phase)
	}
	if c, _ := testfleet.Fleet(t).Get("second"); c.KubernetesVersion != lower.Version {
		t.Errorf("the skipped cluster was upgraded to %s", c.KubernetesVersion)
	}
	if _, err := e.Drive(ctx, run.Name); err != nil {
		t.Errorf("driving a completed run again: %v", err)
	}
}

// TestCancel cancels a run during its first stage's soak: the run ends
// Cancelled, the soak is Stopped, the next stage's cluster is untouched,
// and the run cannot be resumed. A run cancelled while nothing drives it
// ends at its next Drive without touching a cluster.
func TestCancel(t *testing.T) {
	upAll(t, 1, "cancel-a", "cancel-b")
	e := newEngine(t, []v1alpha1.Cluster{member("cancel-a", "one"), member("cancel-b", "two")})
	ctx := t.Context()
	s1 := stage("one", "one")
	s1.AfterStageWaitInSeconds = 600
	run, strategy := newRun("cancellable", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeControlPlaneOnly, KubernetesVersion: higher.Minor}, s1, stage("two", "two"))
	if _, err := e.Initialize(ctx, run, strategy); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := e.Drive(ctx, run.Name); done <- err }()
	waitFor(t, e.Store, run.Name, "the soak", func(r *v1alpha1.UpdateRun) bool {
		return len(r.Status.Stages) > 0 && len(r.Status.Stages[0].AfterTasks) > 0 && r.Status.Stages[0].AfterTasks[0].Phase == v1alpha1.PhaseRunning
	})
	if err := e.Store.SetState(run.Name, v1alpha1.StateCancel); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, engine.ErrCancelled) {
			t.Fatalf("drive after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cancel did not end the soak")
	}
	got, _ := e.Store.Get(run.Name)
	if got.Status.Phase != v1alpha1.PhaseCancelled || got.Status.End == nil || got.Status.Stages[0].AfterTasks[0].Phase != v1alpha1.PhaseStopped ||
		clusterStatus(got, "cancel-a").Phase != v1alpha1.PhaseCompleted || clusterStatus(got, "cancel-b").Phase != v1alpha1.PhaseNotStarted {
		t.Fatalf("after cancel: run %s (end %v), soak %s, cancel-a %s, cancel-b %s", got.Status.Phase, got.Status.End,
			got.Status.Stages[0].AfterTasks[0].Phase, clusterStatus(got, "cancel-a").Phase, clusterStatus(got, "cancel-b").Phase)
	}
	if got.Status.Progress != "1/2 clusters" {
		t.Errorf("progress %q, want 1/2 clusters", got.Status.Progress)
	}
	if !got.Status.Ended() || autoupgrade.Active(got) {
		t.Error("a cancelled run still counts as under way")
	}
	if err := e.Store.SetState(run.Name, v1alpha1.StateRun); !errors.Is(err, store.ErrCancelled) {
		t.Errorf("resuming a cancelled run: %v, want it refused", err)
	}
	if _, err := e.Drive(ctx, run.Name); !errors.Is(err, engine.ErrCancelled) {
		t.Errorf("driving a cancelled run again: %v", err)
	}

	only := newEngine(t, []v1alpha1.Cluster{member("cancel-b", "two")})
	idle, strategy := newRun("cancelled-idle", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeControlPlaneOnly, KubernetesVersion: higher.Minor}, stage("two", "two"))
	idle.Spec.State = v1alpha1.StateInitialize
	if _, err := only.Initialize(ctx, idle, strategy); err != nil {
		t.Fatal(err)
	}
	if err := only.Store.SetState(idle.Name, v1alpha1.StateCancel); err != nil {
		t.Fatal(err)
	}
	if _, err := only.Drive(ctx, idle.Name); !errors.Is(err, engine.ErrCancelled) {
		t.Fatalf("driving a run cancelled before it started: %v", err)
	}
	if got, _ := only.Store.Get(idle.Name); got.Status.Phase != v1alpha1.PhaseCancelled || clusterStatus(got, "cancel-b").Phase != v1alpha1.PhaseNotStarted {
		t.Errorf("a run cancelled before it started: %s, cancel-b %s", got.Status.Phase, clusterStatus(got, "cancel-b").Phase)
	}
	if c, _ := testfleet.Fleet(t).Get("cancel-b"); c.KubernetesVersion != lower.Version {
		t.Errorf("a cluster of a cancelled run was upgraded to %s", c.KubernetesVersion)
	}
}

// TestCrashAndResume kills the upshift process (SIGKILL) in the middle of
// the control-plane step, of the node pool step and of the stage's soak,
// resumes each time, and checks every action happened exactly once: two
// API server starts in all (the first up and the upgrade), three new nodes
// for a pool of three, and a soak that is not started over.
func TestCrashAndResume(t *testing.T) {
	upAll(t, 3, "crashy")
	home := testfleet.Fleet(t).Home
	dir := t.TempDir()
	fleetFile, runFile := filepath.Join(dir, "fleet.yaml"), filepath.Join(dir, "run.yaml")
	write(t, fleetFile, "apiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: crashy}\nspec: {provider: local, local: {name: crashy}, group: g}\n")
	write(t, runFile, fmt.Sprintf(`apiVersion: upshift.dev/v1alpha1
kind: UpdateRun
metadata: {name: crash-test}
spec:
  strategy: {stages: [{name: only, groups: [{name: g}], afterStageWaitInSeconds: 8}]}
  upgrade: {type: Full, kubernetesVersion: "%s"}
  nodeUpgrade: {maxSurge: 1, drainTimeout: 1m, nodeSoakDuration: 2s}
`, higher.Minor))
	st := &store.Store{Dir: home}
	c, _ := testfleet.Fleet(t).Get("crashy")
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	// Record every node at the target that ever exists.
	stopWatch := testfleet.NodesAt(t, client, higher.Version)

	killWhen := func(args []string, cond func([]store.Event) bool) {
		t.Helper()
		testfleet.KillWhen(t, 2*time.Minute, func() bool { events, _ := st.Events("crash-test"); return cond(events) }, args...)
	}
	started := func(step string) func([]store.Event) bool {
		return func(events []store.Event) bool {
			for _, e := range events {
				if e.Step == step && e.Type == "Started" {
					return true
				}
			}
			return false
		}
	}
	surged := func(events []store.Event) bool {
		for _, e := range events {
			if e.Step == "NodePool user" && strings.HasPrefix(e.Message, "soaking") {
				return true
			}
		}
		return false
	}
	killWhen([]string{"run", "-f", runFile, "--fleet", fleetFile, "--home", home}, started("ControlPlane "+higher.Version))
	killWhen([]string{"resume", "crash-test", "--home", home}, surged)
	soaking := func(events []store.Event) bool {
		for _, e := range events {
			if e.Step == "afterStageWait" && e.Type == "Waiting" {
				return true
			}
		}
		return false
	}
	killWhen([]string{"resume", "crash-test", "--home", home}, soaking)
	out, err := testfleet.CLI("resume", "crash-test", "--home", home).CombinedOutput()
	if err != nil {
		t.Fatalf("final resume: %v\n%s", err, out)
	}
	seen := stopWatch()

	run, _ := st.Get("crash-test")
	if run.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("run %s: %s", run.Status.Phase, run.Status.Message)
	}
	log, err := os.ReadFile(filepath.Join(c.Dir(), "logs", "kube-apiserver.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), "Serving securely on"); n != 2 {
		t.Errorf("the API server started %d times; want 2 (up and one upgrade)", n)
	}
	if len(seen) != 3 {
		t.Errorf("%d nodes at %s were created: %v; want 3 (no second surge)", len(seen), higher.Version, seen)
	}
	nodes, _ := client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if len(nodes.Items) != 3 {
		t.Errorf("%d nodes after the run, want 3", len(nodes.Items))
	}
	cp := clusterStatus(run, "crashy").Steps[0]
	if cp.Attempts != 2 {
		t.Errorf("control-plane step attempts = %d, want 2 (killed once)", cp.Attempts)
	}
	// The soak resumed from when it began instead of starting over.
	soak := run.Status.Stages[0].AfterTasks[0]
	if took := soak.End.Sub(soak.Start.Time); soak.Phase != v1alpha1.PhaseCompleted || took < 8*time.Second || took > 12*time.Second {
		t.Errorf("soak of 8s: %s, took %s from its first start", soak.Phase, took)
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// fullDisk is the file store with status writes that fail once a step
// has completed, as on a state folder whose disk filled up mid-run.
type fullDisk struct {
	store.Runs
	failing bool
	tries   int
}

func (f *fullDisk) SaveStatus(name string, s *v1alpha1.UpdateRunStatus) error {
	for _, st := range s.Stages {
		for _, c := range st.Clusters {
			for _, step := range c.Steps {
				if step.Phase == v1alpha1.PhaseCompleted {
					f.failing = true
				}
			}
		}
	}
	if f.failing {
		f.tries++
		return errors.New("no space left on device (injected)")
	}
	return f.Runs.SaveStatus(name, s)
}

// TestStatusWriteFailureStopsTheRun: a status write that keeps failing is
// retried, then stops the run at the next step with an error that names
// the cause and the resume; no later step starts. Once the disk is back,
// resume finishes the run. Before, 27 writes dropped their errors and the
// run went on with a record that no longer said what was done.
func TestStatusWriteFailureStopsTheRun(t *testing.T) {
	upAll(t, 1, "disk")
	e := newEngine(t, []v1alpha1.Cluster{member("disk", "g")})
	files := e.Store
	full := &fullDisk{Runs: files}
	e.Store = full
	ctx := t.Context()
	run, strategy := newRun("disk-full", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: higher.Minor}, stage("only", "g"))
	if _, err := e.Initialize(ctx, run, strategy); err != nil {
		t.Fatal(err)
	}
	_, err := e.Drive(ctx, run.Name)
	if !errors.Is(err, engine.ErrStatusNotSaved) || !errors.Is(err, engine.ErrStopped) || !strings.Contains(err.Error(), "no space left") || !strings.Contains(err.Error(), "upshift resume disk-full") {
		t.Fatalf("drive on a full disk: %v", err)
	}
	if full.tries < 5 {
		t.Errorf("the failing write was tried %d time(s), want it retried", full.tries)
	}
	events, _ := files.Events(run.Name)
	for _, ev := range events {
		if ev.Type == "Started" && strings.HasPrefix(ev.Step, "NodePool") {
			t.Errorf("step %s started after the status could not be saved", ev.Step)
		}
	}
	e.Store = files
	final, err := e.Drive(ctx, run.Name)
	if err != nil {
		t.Fatalf("resume once the disk is back: %v", err)
	}
	if final.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("after resume: %s %s", final.Status.Phase, final.Status.Message)
	}
	ready := false
	for _, c := range final.Status.Conditions {
		if c.Type == v1alpha1.ConditionReady && c.Status == metav1.ConditionTrue && c.Reason == v1alpha1.PhaseCompleted {
			ready = true
		}
		if c.Type == v1alpha1.ConditionProgressing && c.Status != metav1.ConditionFalse {
			t.Errorf("a completed run is still Progressing: %+v", c)
		}
	}
	if !ready {
		t.Errorf("conditions of a completed run: %+v", final.Status.Conditions)
	}
	if c, _ := testfleet.Fleet(t).Get("disk"); c.KubernetesVersion != higher.Version {
		t.Errorf("cluster at %s after resume, want %s", c.KubernetesVersion, higher.Version)
	}
}

// TestOneRunPerEngine: an Engine refuses a second run while it drives
// one, rather than mix the two runs' state.
func TestOneRunPerEngine(t *testing.T) {
	e := newEngine(t, nil)
	held := stage("only")
	held.BeforeStageTasks = []v1alpha1.StageTask{{Type: v1alpha1.TaskApproval}}
	for _, name := range []string{"held", "other"} {
		run, strategy := newRun(name, v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeNodeImageOnly}, held)
		if err := e.Store.Create(run); err != nil {
			t.Fatal(err)
		}
		status := v1alpha1.UpdateRunStatus{Strategy: strategy, Stages: []v1alpha1.StageStatus{{Name: "only",
			BeforeTasks: []v1alpha1.TaskStatus{{Name: v1alpha1.TaskApproval, Type: v1alpha1.TaskApproval}}}}}
		if err := e.Store.SaveStatus(name, &status); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { _, err := e.Drive(ctx, "held"); done <- err }()
	waitFor(t, e.Store, "held", "the approval wait", func(r *v1alpha1.UpdateRun) bool {
		return r.Status.Stages[0].BeforeTasks[0].Phase == v1alpha1.PhaseWaiting
	})
	if _, err := e.Drive(t.Context(), "other"); !errors.Is(err, engine.ErrBusy) || !strings.Contains(err.Error(), "held") {
		t.Errorf("a second drive on a busy engine: %v", err)
	}
	cancel()
	<-done
	if other, _ := e.Store.Get("other"); other.Status.Phase != "" {
		t.Errorf("the refused run was touched: %s", other.Status.Phase)
	}
}

// TestAPIServerOutageIsWaitedOut: the cluster's kube-apiserver is killed
// as a node-pool step starts and comes back a few seconds later. The step
// waits for it (progress says so, attempt after attempt), then finishes;
// every node is replaced once. Before, the run failed on the first refused
// connection.
func TestAPIServerOutageIsWaitedOut(t *testing.T) {
	const nodes = 8
	spec := localfleet.Spec{Name: "outage", KubernetesVersion: lower.Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: nodes}}}
	c := testfleet.Up(t, spec)
	e := newEngine(t, []v1alpha1.Cluster{member("outage", "g")})
	var mu sync.Mutex
	var waiting []string
	e.Progress = func(ev engine.Event) {
		if ev.Type == "Waiting" {
			mu.Lock()
			waiting = append(waiting, ev.Message)
			mu.Unlock()
		}
	}
	ctx := t.Context()
	run, strategy := newRun("outage", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeNodeImageOnly, NodeImageSelection: &v1alpha1.NodeImageSelection{Type: v1alpha1.NodeImageLatest}}, stage("only", "g"))
	one := intstr.FromInt32(1)
	run.Spec.NodeUpgrade.MaxSurge = &one
	run.Spec.FailurePolicy.TransientErrorTimeout = &metav1.Duration{Duration: 2 * time.Minute}
	if _, err := e.Initialize(ctx, run, strategy); err != nil {
		t.Fatal(err)
	}
	// The API server dies after the plan was made: the pool step's first
	// call is refused, every time, until it is back.
	recs, err := procs.LoadDir(filepath.Join(c.Dir(), "pids"))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(recs["kube-apiserver"].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := e.Drive(ctx, run.Name); done <- err }()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		n := len(waiting)
		mu.Unlock()
		if n >= 2 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the run ended while the API server was down: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the run never said it waited for the API server")
		}
	}
	if _, err := testfleet.Fleet(t).Up(ctx, spec); err != nil {
		t.Fatalf("restarting the API server: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the run did not wait the outage out: %v", err)
	}
	mu.Lock()
	saw := strings.Join(waiting, "\n")
	mu.Unlock()
	if !strings.Contains(saw, "waiting for the API server") {
		t.Errorf("progress never said it waited for the API server: %q", saw)
	}
	client, _ := c.Client()
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: localfleet.LabelNodePool + "=user"})
	if err != nil {
		t.Fatal(err)
	}
	latest := nodeimages.Default().Latest().Version
	if len(list.Items) != nodes {
		t.Errorf("pool has %d nodes after the run, want %d (a node added or removed twice)", len(list.Items), nodes)
	}
	for _, n := range list.Items {
		if n.Labels[localfleet.LabelNodeImage] != latest {
			t.Errorf("node %s still on %s", n.Name, n.Labels[localfleet.LabelNodeImage])
		}
	}
}

// TestRollbackSeesItsDriverFail: `upshift rollback` of a run another
// process drives waits for that driver, and returns its failure when the
// run's Failed condition says the rollback failed; the message is not
// read for it.
func TestRollbackSeesItsDriverFail(t *testing.T) {
	st := &store.Store{Dir: t.TempDir()}
	run := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "switched"}, Spec: v1alpha1.UpdateRunSpec{Method: v1alpha1.MethodBlueGreen}}
	if err := st.Create(run); err != nil {
		t.Fatal(err)
	}
	unlock, err := st.Lock(run.Name) // the driver
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = st.SaveStatus(run.Name, &v1alpha1.UpdateRunStatus{Phase: v1alpha1.PhaseFailed, Message: "traffic provider refused the switch back",
			Conditions: []metav1.Condition{{Type: v1alpha1.ConditionFailed, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonRollbackFailed, Message: "traffic provider refused the switch back", LastTransitionTime: metav1.Now()}}})
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	e := &engine.Engine{Store: st}
	if _, err := e.Rollback(ctx, run.Name); !errors.Is(err, engine.ErrFailed) || !strings.Contains(err.Error(), "refused the switch back") {
		t.Fatalf("rollback while the driver's rollback fails: %v", err)
	}
}
