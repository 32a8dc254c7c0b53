package hub_test

import (
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

// TestHubFailoverMidPoolStep SIGKILLs the leading hub replica while it
// replaces a member's node pool one node at a time, after some nodes are
// replaced and before the rest: the standby takes the run over when the
// leases run out and finishes the pool, and no node is replaced twice —
// every node that ever ran the new image is one of the pool's final
// nodes, and the pool has its size.
func TestHubFailoverMidPoolStep(t *testing.T) {
	const poolSize = 8
	kubeconfig, _, c := upHub(t, "pool-hub")
	member := testfleet.Up(t, localfleet.Spec{Name: "pool-member", KubernetesVersion: toolchain.Latest().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: poolSize}}})
	ctx := t.Context()
	mc, err := member.Client()
	if err != nil {
		t.Fatal(err)
	}
	latest := nodeimages.Default().Latest().Version
	// Every node that ever carries the new image, watched from the start.
	var mu sync.Mutex
	seen := map[string]bool{}
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			if list, err := mc.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: localfleet.LabelNodePool + "=user"}); err == nil {
				mu.Lock()
				for _, n := range list.Items {
					if n.Labels[localfleet.LabelNodeImage] == latest {
						seen[n.Name] = true
					}
				}
				mu.Unlock()
			}
			select {
			case <-stopWatch:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	replaced := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }

	replicas := []*replica{startReplica(t, kubeconfig, "replica-a"), startReplica(t, kubeconfig, "replica-b")}
	waitFor(t, "a leader", replicas, func() bool { return holder(c, t, "default", "upshift-hub") != "" })
	one := intstr.FromInt32(1)
	for _, o := range []client.Object{
		&v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "pool-member", Namespace: "default"},
			Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: "pool-member"}, Group: "all"}},
		&v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "pool", Namespace: "default"},
			Spec: v1alpha1.UpdateRunSpec{Strategy: &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "all", Groups: []v1alpha1.GroupRef{{Name: "all"}}}}},
				Upgrade:     v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeNodeImageOnly, NodeImageSelection: &v1alpha1.NodeImageSelection{Type: v1alpha1.NodeImageLatest}},
				NodeUpgrade: v1alpha1.NodeUpgradeSpec{MaxSurge: &one}}},
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "some of the pool replaced", replicas, func() bool { return replaced() >= 2 })
	standby, killed := killLeader(t, c, replicas)
	atKill := replaced()
	if atKill >= poolSize {
		t.Fatalf("the pool was done (%d nodes replaced) before the leader was killed: nothing was tested", atKill)
	}
	st := &hubstore.Store{Client: c, Namespace: "default"}
	t.Logf("leader killed with %d of %d nodes replaced; the standby drives the run %s later (4 s leases)", atKill, poolSize, takeover(t, c, replicas, "pool", standby, killed))
	waitCompleted(t, st, replicas, "pool")
	close(stopWatch)
	<-watched

	nodes, err := mc.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: localfleet.LabelNodePool + "=user"})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != poolSize {
		t.Errorf("the pool has %d nodes, want %d", len(nodes.Items), poolSize)
	}
	final := map[string]bool{}
	for _, n := range nodes.Items {
		final[n.Name] = true
		if n.Labels[localfleet.LabelNodeImage] != latest {
			t.Errorf("node %s on %s, want %s", n.Name, n.Labels[localfleet.LabelNodeImage], latest)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for name := range seen {
		if !final[name] {
			t.Errorf("node %s ran the new image and was removed: a replacement was done twice", name)
		}
	}
}
