package hub_test

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

// TestHubRetention: a run with ttlSecondsAfterFinished is deleted that
// long after it ended, and what it owns (its fleet and audit ConfigMaps,
// its driver lease) goes with it; with --keep-runs 2 the oldest of three
// ended runs is deleted and the newest two stay; the leader's metrics no
// longer carry a deleted run's series.
func TestHubRetention(t *testing.T) {
	kubeconfig, _, c := upHub(t, "retain-hub")
	testfleet.Up(t, localfleet.Spec{Name: "retain-member", KubernetesVersion: toolchain.Latest().Minor})
	ctx := t.Context()
	if err := c.Create(ctx, &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "retain-member", Namespace: "default"},
		Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: "retain-member"}, Group: "all"}}); err != nil {
		t.Fatal(err)
	}
	run := func(name string, ttl *int32) *v1alpha1.UpdateRun {
		return &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: v1alpha1.UpdateRunSpec{Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeControlPlaneOnly, KubernetesVersion: toolchain.Latest().Minor},
				TTLSecondsAfterFinished: ttl,
				Strategy:                &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "all", Groups: []v1alpha1.GroupRef{{Name: "all"}}}}}}}
	}
	metrics := testfleet.LoopbackAddr(t)
	replicas := []*replica{startReplica(t, kubeconfig, "replica-a", "--keep-runs", "2", "--metrics-listen", metrics)}
	st := &hubstore.Store{Client: c, Namespace: "default"}
	gone := func(obj client.Object, name string) bool {
		return apierrors.IsNotFound(c.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, obj))
	}

	// ttlSecondsAfterFinished: 3.
	if err := c.Create(ctx, run("short-lived", new(int32(3)))); err != nil {
		t.Fatal(err)
	}
	waitCompleted(t, st, replicas, "short-lived")
	owned := map[string]client.Object{
		"short-lived-fleet": &corev1.ConfigMap{}, "short-lived-audit": &corev1.ConfigMap{}, "short-lived-driver": &coordinationv1.Lease{},
	}
	for name, obj := range owned {
		if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, obj); err != nil {
			t.Fatalf("the run's %s: %v", name, err)
		}
		if refs := obj.GetOwnerReferences(); len(refs) != 1 || refs[0].Kind != "UpdateRun" || refs[0].Name != "short-lived" {
			t.Errorf("%s is owned by %+v, want run short-lived (so that it goes with it)", name, refs)
		}
	}
	done, _ := st.Get("short-lived")
	waitFor(t, "the run to be deleted after its TTL", replicas, func() bool { return gone(&v1alpha1.UpdateRun{}, "short-lived") })
	if lived := time.Since(done.Status.End.Time); lived < 2*time.Second {
		t.Errorf("the run was deleted %s after it ended, before its TTL of 3s", lived)
	}
	// The API server's garbage collector deletes them; it learns of a
	// new CRD's objects at its next discovery (up to 30 s here).
	waitFor(t, "what the run owned to go with it", replicas, func() bool {
		for name, obj := range owned {
			if !gone(obj, name) {
				return false
			}
		}
		return true
	})

	// --keep-runs 2: three runs end one after the other (a second apart,
	// the resolution of their end times); the first is deleted.
	for _, name := range []string{"first", "second", "third"} {
		if err := c.Create(ctx, run(name, nil)); err != nil {
			t.Fatal(err)
		}
		waitCompleted(t, st, replicas, name)
		if name == "first" {
			if m := testfleet.Scrape(t, "http://"+metrics+"/metrics", ""); m.Sum("upshift_run_phase", map[string]string{"run": "first", "phase": "Completed"}) != 1 {
				t.Errorf("the leader does not report run first as Completed")
			}
		}
		time.Sleep(1100 * time.Millisecond)
	}
	waitFor(t, "the oldest ended run to be deleted", replicas, func() bool { return gone(&v1alpha1.UpdateRun{}, "first") })
	for _, name := range []string{"second", "third"} {
		if gone(&v1alpha1.UpdateRun{}, name) {
			t.Errorf("run %s was deleted; --keep-runs 2 keeps the newest two", name)
		}
	}
	if m := testfleet.Scrape(t, "http://"+metrics+"/metrics", ""); m.Sum("upshift_run_phase", map[string]string{"run": "first"}) != 0 {
		t.Errorf("the deleted run first still has metric series")
	}
}
