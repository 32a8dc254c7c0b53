package hub_test

import (
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

// TestHubPausedDriverIsFenced pauses the replica driving a run (SIGSTOP)
// past its lease, in the middle of a soak, until the standby has taken the
// run over; then lets it go on (SIGCONT). The paused replica's soak ended
// while it was stopped, so it tries to write at once: the write is
// refused, and its engine stops. The run completes under the standby, and
// the run's managedFields show no status write of the paused replica
// after its pause.
func TestHubPausedDriverIsFenced(t *testing.T) {
	kubeconfig, _, c := upHub(t, "fence-hub")
	testfleet.Up(t, localfleet.Spec{Name: "fence-member", KubernetesVersion: toolchain.Latest().Minor})
	ctx := t.Context()
	replicas := []*replica{startReplica(t, kubeconfig, "replica-a"), startReplica(t, kubeconfig, "replica-b")}
	waitFor(t, "a leader", replicas, func() bool { return holder(c, t, "default", "upshift-hub") != "" })
	if err := c.Create(ctx, &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "fence-member", Namespace: "default"},
		Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: "fence-member"}, Group: "all"}}); err != nil {
		t.Fatal(err)
	}
	soak := func(name string) v1alpha1.StageTask {
		return v1alpha1.StageTask{Type: v1alpha1.TaskTimedWait, Name: name, WaitTime: &metav1.Duration{Duration: 6 * time.Second}}
	}
	if err := c.Create(ctx, &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "fenced", Namespace: "default"},
		Spec: v1alpha1.UpdateRunSpec{Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeControlPlaneOnly, KubernetesVersion: toolchain.Latest().Minor},
			Strategy: &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "all", Groups: []v1alpha1.GroupRef{{Name: "all"}},
				AfterStageTasks: []v1alpha1.StageTask{soak("first"), soak("second")}}}}}}); err != nil {
		t.Fatal(err)
	}
	st := &hubstore.Store{Client: c, Namespace: "default"}
	waitFor(t, "the first soak", replicas, func() bool {
		r, err := st.Get("fenced")
		return err == nil && len(r.Status.Stages) == 1 && len(r.Status.Stages[0].AfterTasks) == 2 && r.Status.Stages[0].AfterTasks[0].Phase == v1alpha1.PhaseRunning
	})
	driver := holder(c, t, "default", "fenced-driver")
	paused, standby := replicas[0], "replica-b"
	if driver == "replica-b" {
		paused, standby = replicas[1], "replica-a"
	}
	pid := paused.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	pausedAt := time.Now()
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	waitFor(t, "the standby to take the run over", replicas, func() bool { return holder(c, t, "default", "fenced-driver") == standby })
	// Past the first soak's end for the paused replica too.
	time.Sleep(time.Until(pausedAt.Add(7 * time.Second)))
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitCompleted(t, st, replicas, "fenced")
	r, _ := st.Get("fenced")
	for _, task := range r.Status.Stages[0].AfterTasks {
		if task.Phase != v1alpha1.PhaseCompleted {
			t.Errorf("soak %s: %s", task.Name, task.Phase)
		}
	}
	for _, mf := range r.ManagedFields {
		if mf.Manager == "upshift/"+driver && mf.Subresource == "status" && mf.Time != nil && mf.Time.After(pausedAt.Add(time.Second)) {
			t.Errorf("the paused driver %s wrote the status at %s, after its pause at %s", driver, mf.Time.Format(time.RFC3339), pausedAt.Format(time.RFC3339))
		}
	}
	if r.Status.Phase != v1alpha1.PhaseCompleted {
		t.Errorf("the run ended %s after the paused driver came back", r.Status.Phase)
	}
}
