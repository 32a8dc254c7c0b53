package hub_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

// TestHubFailoverMidControlPlane SIGKILLs the leading hub replica while a
// member's control plane moves to the next minor: the standby takes the
// run over, the control plane ends on the target and the pool follows,
// each node replaced once.
func TestHubFailoverMidControlPlane(t *testing.T) {
	kubeconfig, _, c := upHub(t, "cp-hub")
	member := testfleet.Up(t, localfleet.Spec{Name: "cp-member", KubernetesVersion: toolchain.Previous().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
	ctx := t.Context()
	mc, err := member.Client()
	if err != nil {
		t.Fatal(err)
	}
	target := toolchain.Latest()
	atTarget := testfleet.NodesAt(t, mc, target.Version)
	replicas := []*replica{startReplica(t, kubeconfig, "replica-a"), startReplica(t, kubeconfig, "replica-b")}
	waitFor(t, "a leader", replicas, func() bool { return holder(c, t, "default", "upshift-hub") != "" })
	for _, o := range []client.Object{
		&v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "cp-member", Namespace: "default"},
			Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: "cp-member"}, Group: "all"}},
		&v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "minor", Namespace: "default"},
			Spec: v1alpha1.UpdateRunSpec{Strategy: &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "all", Groups: []v1alpha1.GroupRef{{Name: "all"}}}}},
				Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: target.Minor}}},
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	st := &hubstore.Store{Client: c, Namespace: "default"}
	waitFor(t, "the control-plane step to start", replicas, func() bool {
		r, err := st.Get("minor")
		if err != nil || len(r.Status.Stages) == 0 || len(r.Status.Stages[0].Clusters) == 0 {
			return false
		}
		for _, s := range r.Status.Stages[0].Clusters[0].Steps {
			if s.Kind == "ControlPlane" && s.Phase == v1alpha1.PhaseRunning {
				return true
			}
		}
		return false
	})
	standby, killed := killLeader(t, c, replicas)
	t.Logf("leader killed during the control-plane step; the standby drives the run %s later (4 s leases)", takeover(t, c, replicas, "minor", standby, killed))
	waitCompleted(t, st, replicas, "minor")
	v, err := mc.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != target.Version {
		t.Errorf("the control plane runs %s, want %s", v.GitVersion, target.Version)
	}
	if seen := atTarget(); len(seen) != 2 {
		t.Errorf("%d nodes ever ran %s, want 2 (each node of the pool replaced once): %v", len(seen), target.Version, seen)
	}
}
