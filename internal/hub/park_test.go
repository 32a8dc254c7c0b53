package hub_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

// TestHubParksInsideAStep: a run whose cluster waits inside a step, for
// an Approval gate, is parked on the hub (Waiting, no driver's lease
// held); the gate's ApprovalRequest lists what waits, as a stage's does;
// approving it as kubectl would (its Approved condition) wakes the run,
// which completes.
func TestHubParksInsideAStep(t *testing.T) {
	kubeconfig, _, c := upHub(t, "park-hub")
	testfleet.Up(t, localfleet.Spec{Name: "park-member", KubernetesVersion: toolchain.Latest().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 1}}})
	ctx := t.Context()
	replicas := []*replica{startReplica(t, kubeconfig, "replica-a")}
	objects := []client.Object{
		&v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "park-member", Namespace: "default"},
			Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: "park-member"}, Group: "all"}},
		&v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "ticketed", Namespace: "default"},
			Spec: v1alpha1.UpdateRunSpec{
				Strategy: &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "all", Groups: []v1alpha1.GroupRef{{Name: "all"}}}}},
				Upgrade:  v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeNodeImageOnly, NodeImageSelection: &v1alpha1.NodeImageSelection{Type: v1alpha1.NodeImageLatest}},
				Gates:    v1alpha1.RunGates{Preflight: []v1alpha1.GateSpec{{Name: "change-ticket", Type: v1alpha1.GateApproval}}}}},
	}
	for _, o := range objects {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	st := &hubstore.Store{Client: c, Namespace: "default"}
	key := store.ClusterGateKey("park-member", "change-ticket")
	waitFor(t, "the run to park at the cluster's gate", replicas, func() bool {
		r, err := st.Get("ticketed")
		return err == nil && r.Status.Phase == v1alpha1.PhaseWaiting && holder(c, t, "default", "ticketed-driver") == "" &&
			strings.Contains(r.Status.Message, "upshift approve ticketed --cluster park-member --gate change-ticket")
	})
	ar := &v1alpha1.ApprovalRequest{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: hubstore.RequestName("ticketed", key)}, ar); err != nil {
		t.Fatalf("no ApprovalRequest for the gate the run waits for: %v", err)
	}
	if ar.Spec.Key != key || !strings.Contains(ar.Spec.Message, "approve gate change-ticket of cluster park-member") || meta.IsStatusConditionTrue(ar.Status.Conditions, v1alpha1.ConditionApproved) {
		t.Errorf("the gate's ApprovalRequest: %+v", ar.Spec)
	}
	meta.SetStatusCondition(&ar.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionApproved, Status: metav1.ConditionTrue, Reason: "Approved", Message: "ticket CHG-1"})
	ar.Status.ApprovedBy = "alice"
	if err := c.Status().Update(ctx, ar); err != nil {
		t.Fatal(err)
	}
	waitCompleted(t, st, replicas, "ticketed")
	r, _ := st.Get("ticketed")
	if pre := r.Status.Stages[0].Clusters[0].Steps[0]; !strings.Contains(pre.Message, "approved by alice") || pre.Attempts != 1 {
		t.Errorf("the preflight step: %q after %d attempt(s), want approved by alice in one", pre.Message, pre.Attempts)
	}
}
