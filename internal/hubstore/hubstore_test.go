package hubstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/crds"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/providers/cluster/local"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) {
	builtin.Register()
	testfleet.Main(m)
}

// TestEngineOnAHub drives a run with the engine over a real member
// cluster while the run's state lives on a real hub API server: the run
// is an UpdateRun object, its stage approval is an ApprovalRequest
// approved through its status, its fleet and audit trail are ConfigMaps
// it owns, and the right to drive it is a Lease, released at the end.
func TestEngineOnAHub(t *testing.T) {
	hub := testfleet.Up(t, localfleet.Spec{Name: "hub", KubernetesVersion: toolchain.Latest().Minor})
	testfleet.Up(t, localfleet.Spec{Name: "member", KubernetesVersion: toolchain.Latest().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
	ctx := t.Context()
	cfg, err := clientcmd.BuildConfigFromFlags("", hub.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := crds.Install(ctx, cfg, time.Minute); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: hubstore.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	st := &hubstore.Store{Client: c, Namespace: "default", Identity: "driver-a", LeaseDuration: 3 * time.Second}

	member := v1alpha1.Cluster{TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "Cluster"}, ObjectMeta: metav1.ObjectMeta{Name: "member"},
		Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: "member"}, Group: "all"}}
	e := &engine.Engine{Store: st, Fleet: []v1alpha1.Cluster{member}, Resolve: local.Resolver(testfleet.Fleet(t)), Poll: 100 * time.Millisecond}
	strategy := &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "all", Groups: []v1alpha1.GroupRef{{Name: "all"}},
		BeforeStageTasks: []v1alpha1.StageTask{{Type: v1alpha1.TaskApproval, Name: "go"}}}}}
	run := &v1alpha1.UpdateRun{TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "UpdateRun"}, ObjectMeta: metav1.ObjectMeta{Name: "images"},
		Spec: v1alpha1.UpdateRunSpec{Strategy: strategy, Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeNodeImageOnly, NodeImageSelection: &v1alpha1.NodeImageSelection{Type: v1alpha1.NodeImageLatest}}}}
	if _, err := e.Initialize(ctx, run, strategy); err != nil {
		t.Fatal(err)
	}
	if err := st.Create(run); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a second create: %v", err)
	}

	// Another driver cannot take the run while this one holds it.
	other := &hubstore.Store{Client: c, Namespace: "default", Identity: "driver-b"}
	done := make(chan error, 1)
	go func() { _, err := e.Drive(ctx, run.Name); done <- err }()
	waitFor(t, "the stage to wait for its approval", func() bool {
		r, err := st.Get(run.Name)
		return err == nil && len(r.Status.Stages) == 1 && len(r.Status.Stages[0].BeforeTasks) == 1 && r.Status.Stages[0].BeforeTasks[0].Phase == v1alpha1.PhaseWaiting
	})
	if _, err := other.Lock(run.Name); !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "driver-a") {
		t.Errorf("a second driver's lock: %v", err)
	}

	// Approve as a person would with kubectl: the request object, then
	// its Approved condition through the status subresource.
	ar, err := st.Request(ctx, run.Name, "stage/all", "stage all waits for approval")
	if err != nil {
		t.Fatal(err)
	}
	meta.SetStatusCondition(&ar.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionApproved, Status: metav1.ConditionTrue, Reason: "Approved", Message: "lgtm"})
	ar.Status.ApprovedBy = "alice"
	if err := c.Status().Update(ctx, ar); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("drive: %v", err)
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("the run did not end")
	}

	got := &v1alpha1.UpdateRun{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: run.Name}, got); err != nil {
		t.Fatal(err)
	}
	latest := nodeimages.Default().Latest().Version
	if got.Status.Phase != v1alpha1.PhaseCompleted || got.Status.NodeImage != latest || got.Status.Stages[0].BeforeTasks[0].ApprovedBy != "alice" {
		t.Errorf("the run object's status: %+v", got.Status)
	}
	// The cluster's part lives in an UpdateRunMember the run owns; the
	// run's stage only counts it, and a read through the store puts it
	// back.
	if st0 := got.Status.Stages[0]; len(st0.Clusters) != 0 || st0.ClusterCount != 1 {
		t.Errorf("the run object's stage holds %d clusters inline, counts %d", len(st0.Clusters), st0.ClusterCount)
	}
	var members v1alpha1.UpdateRunMemberList
	if err := c.List(ctx, &members, client.InNamespace("default"), client.MatchingLabels{hubstore.LabelRun: run.Name}); err != nil || len(members.Items) != 1 {
		t.Fatalf("the run's UpdateRunMembers: %d, %v", len(members.Items), err)
	}
	um := members.Items[0]
	if um.Run != run.Name || um.Stage != "all" || um.Status.Name != "member" || um.Status.Phase != v1alpha1.PhaseCompleted ||
		len(um.OwnerReferences) != 1 || um.OwnerReferences[0].UID != got.UID {
		t.Errorf("the member: run %q stage %q cluster %q phase %q owners %+v", um.Run, um.Stage, um.Status.Name, um.Status.Phase, um.OwnerReferences)
	}
	// A status written back as the run object holds it (its stages only
	// counting their clusters) deletes no member.
	if err := st.SaveStatus(run.Name, got.Status.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	if err := c.List(ctx, &members, client.InNamespace("default"), client.MatchingLabels{hubstore.LabelRun: run.Name}); err != nil || len(members.Items) != 1 {
		t.Errorf("after a status without its clusters was saved: %d members, %v", len(members.Items), err)
	}
	if r, err := st.Get(run.Name); err != nil || len(r.Status.Stages[0].Clusters) != 1 || r.Status.Stages[0].Clusters[0].Name != "member" ||
		len(r.Status.Stages[0].Clusters[0].Steps) == 0 || r.Status.Stages[0].Clusters[0].Phase != v1alpha1.PhaseCompleted {
		t.Errorf("the run read through the store (%v): %+v", err, r.Status.Stages)
	}
	m, _ := testfleet.Fleet(t).Get("member")
	mc, _ := m.Client()
	nodes, err := mc.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: localfleet.LabelNodePool + "=user"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		if n.Labels[localfleet.LabelNodeImage] != latest {
			t.Errorf("node %s on %s", n.Name, n.Labels[localfleet.LabelNodeImage])
		}
	}
	events, err := st.Events(run.Name)
	if err != nil || len(events) < 5 || events[0].Type != "Initialized" || events[len(events)-1].Type != "Completed" {
		t.Errorf("audit trail (%v): %+v", err, events)
	}
	fleetCM := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: run.Name + "-fleet"}, fleetCM); err != nil || !strings.Contains(fleetCM.Data["fleet.yaml"], "name: member") ||
		len(fleetCM.OwnerReferences) != 1 || fleetCM.OwnerReferences[0].Name != run.Name {
		t.Errorf("fleet ConfigMap: %+v, %v", fleetCM, err)
	}
	lease := &coordinationv1.Lease{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: run.Name + "-driver"}, lease); err != nil || lease.Spec.HolderIdentity != nil {
		t.Errorf("lease after the run: %+v, %v", lease.Spec, err)
	}

	// The lease, skips and the spec.
	unlock, err := other.Lock(run.Name)
	if err != nil {
		t.Fatalf("the released lease: %v", err)
	}
	unlock()
	// Expiry is observed, not read from the holder's clock: a RenewTime a
	// minute old (a holder whose clock is behind) does not count; the
	// record unchanged for the lease's duration, seen from here, does.
	dead := "dead-driver"
	past := metav1.NewMicroTime(time.Now().Add(-time.Minute))
	secs := int32(1)
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: run.Name + "-driver"}, lease); err != nil {
		t.Fatal(err)
	}
	lease.Spec = coordinationv1.LeaseSpec{HolderIdentity: &dead, RenewTime: &past, LeaseDurationSeconds: &secs}
	if err := c.Update(context.Background(), lease); err != nil {
		t.Fatal(err)
	}
	if unlock, err := other.Lock(run.Name); !errors.Is(err, store.ErrLocked) {
		if err == nil {
			unlock()
		}
		t.Errorf("a lease first seen now, whatever its RenewTime says: %v, want it held", err)
	}
	time.Sleep(1200 * time.Millisecond)
	if unlock, err := other.Lock(run.Name); err != nil {
		t.Errorf("a lease seen unchanged for its duration: %v", err)
	} else {
		unlock()
	}
	if err := st.Skip(run.Name, store.Approval{Key: "cluster/member"}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetState(run.Name, v1alpha1.StateStop); err != nil {
		t.Fatal(err)
	}
	cur, _ := st.Get(run.Name)
	if err := st.SaveSpec(cur); err != nil {
		t.Fatal(err)
	}
	skips, err := st.Skips(run.Name)
	if err != nil || !skips["cluster/member"] {
		t.Errorf("skips after a spec save: %v, %v", skips, err)
	}
	if cur, _ := st.Get(run.Name); cur.Spec.State != v1alpha1.StateStop || cur.Status.Phase != v1alpha1.PhaseCompleted {
		t.Errorf("state %q, phase %q", cur.Spec.State, cur.Status.Phase)
	}
	if _, err := st.Get("nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a missing run: %v", err)
	}
	if list, err := st.List(); err != nil || len(list) != 1 || len(list[0].Status.Stages[0].Clusters) != 1 {
		t.Errorf("list: %d, %v", len(list), err)
	}
	// A member deleted by hand: the run cannot be read as smaller than it
	// is, and the error says where to look.
	if err := c.Delete(ctx, &um); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(run.Name); err == nil || !strings.Contains(err.Error(), "stage all counts 1 clusters, and 0 of their UpdateRunMembers were found") ||
		!strings.Contains(err.Error(), "get updaterunmembers -l upshift.dev/run=images") {
		t.Errorf("a run missing a member: %v", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAuditChunks appends more events than one ConfigMap holds, from two
// writers at once (a driver and an approver each with their own store):
// the trail spans chunks, keeps every event once, in order per writer.
func TestAuditChunks(t *testing.T) {
	hubCluster := testfleet.Up(t, localfleet.Spec{Name: "audit-hub", KubernetesVersion: toolchain.Latest().Minor})
	cfg, err := clientcmd.BuildConfigFromFlags("", hubCluster.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	if err := crds.Install(t.Context(), cfg, time.Minute); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: hubstore.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	driver := &hubstore.Store{Client: c, Namespace: "default"}
	approver := &hubstore.Store{Client: c, Namespace: "default"}
	if err := driver.Create(&v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "long"}, Spec: v1alpha1.UpdateRunSpec{Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeNodeImageOnly}}}); err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 2000)
	const each = 400 // 2 × 400 × ~2 KiB: over three chunks of 512 KiB
	var wg sync.WaitGroup
	for w, st := range map[string]*hubstore.Store{"driver": driver, "approver": approver} {
		for g := range 4 {
			wg.Go(func() {
				for i := range each / 4 {
					if err := st.Audit("long", store.Event{Type: w, Message: fmt.Sprintf("%d-%03d %s", g, i, pad)}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	events, err := driver.Events("long")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2*each {
		t.Fatalf("%d events, want %d", len(events), 2*each)
	}
	seen := map[string]bool{}
	last := map[string]string{}
	for _, e := range events {
		key := e.Type + " " + e.Message[:5]
		if seen[key] {
			t.Fatalf("event %s twice", key)
		}
		seen[key] = true
		g := e.Type + e.Message[:1]
		if e.Message[:5] < last[g] {
			t.Errorf("%s: %s after %s", e.Type, e.Message[:5], last[g])
		}
		last[g] = e.Message[:5]
	}
	cms := &corev1.ConfigMapList{}
	if err := c.List(t.Context(), cms, client.InNamespace("default"), client.MatchingLabels{hubstore.LabelRun: "long"}); err != nil {
		t.Fatal(err)
	}
	if len(cms.Items) < 3 {
		t.Errorf("the trail is in %d ConfigMaps, want it spread over at least 3", len(cms.Items))
	}
}
