package engine_test

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/procs"
	"upshift.dev/upshift/internal/testfleet"
)

// TestFleetGoesOnPastUnreachableMembers: a member whose API server is
// down at its turn is skipped with the reason (skipUnreachable) and
// counts against the failure limits: a run limit of 1 holds and the others
// are upgraded; with no limit set the first one crossed stops the run
// before the others start; a group's 50% holds.
func TestFleetGoesOnPastUnreachableMembers(t *testing.T) {
	upAll(t, 1, "fp-dead", "fp-a", "fp-b")
	dead, err := testfleet.Fleet(t).Get("fp-dead")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := procs.LoadDir(filepath.Join(dead.Dir(), "pids"))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(recs["kube-apiserver"].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	fleet := []v1alpha1.Cluster{member("fp-dead", "g"), member("fp-a", "g"), member("fp-b", "g")}
	ctx := t.Context()
	image := v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeNodeImageOnly, NodeImageSelection: &v1alpha1.NodeImageSelection{Type: v1alpha1.NodeImageLatest}}
	drive := func(name string, policy v1alpha1.FailurePolicy, st v1alpha1.StageSpec) (*v1alpha1.UpdateRun, error) {
		t.Helper()
		e := newEngine(t, fleet)
		run, strategy := newRun(name, image, st)
		run.Spec.FailurePolicy = policy
		if _, err := e.Initialize(ctx, run, strategy); err != nil {
			t.Fatal(err)
		}
		_, err := e.Drive(ctx, name)
		got, gerr := e.Store.Get(name)
		if gerr != nil {
			t.Fatal(gerr)
		}
		return got, err
	}
	one := intstr.FromInt32(1)

	// The run allows one failed cluster: the dead one is skipped, the
	// others upgraded, and the stage says which limit held.
	run, err := drive("past-dead", v1alpha1.FailurePolicy{SkipUnreachable: true, MaxFailedClusters: &one}, stage("only", "g"))
	if err != nil {
		t.Fatalf("a run whose one unreachable member is within its limit: %v", err)
	}
	run0 := run
	d := clusterStatus(run, "fp-dead")
	if d.Phase != v1alpha1.PhaseSkipped || !d.Unreachable || !strings.Contains(d.Message, "unreachable at its turn: its API server does not answer") {
		t.Errorf("the dead member: %+v", d)
	}
	for _, n := range []string{"fp-a", "fp-b"} {
		if c := clusterStatus(run, n); c.Phase != v1alpha1.PhaseCompleted {
			t.Errorf("%s: %s %s", n, c.Phase, c.Message)
		}
	}
	if msg := run.Status.Stages[0].Message; !strings.Contains(msg, "1 cluster(s) failed or were skipped unreachable, within the run's maxFailedClusters 1: 1 of 3 cluster(s) failed, 1 allowed") {
		t.Errorf("stage message %q does not say which limit held", msg)
	}

	// No limit set: maxFailedClustersPerStage 0 is crossed by the first,
	// and no other cluster starts.
	run, err = drive("stops-at-dead", v1alpha1.FailurePolicy{SkipUnreachable: true}, stage("only", "g"))
	if !errors.Is(err, engine.ErrFailed) {
		t.Fatalf("a run with no limit past an unreachable member: %v", err)
	}
	if !strings.Contains(run.Status.Stages[0].Message, "the run's maxFailedClustersPerStage 0: 1 of 3 cluster(s) failed, 0 allowed") {
		t.Errorf("stage message %q does not name the limit crossed", run.Status.Stages[0].Message)
	}
	for _, n := range []string{"fp-a", "fp-b"} {
		if c := clusterStatus(run, n); c.Phase != v1alpha1.PhaseNotStarted {
			t.Errorf("%s after the limit was crossed: %s; want NotStarted", n, c.Phase)
		}
	}

	// A group's 50% of 3 allows one.
	half := intstr.FromString("50%")
	st := stage("only", "g")
	st.Groups[0].MaxFailedClusters = &half
	if _, err := drive("group-holds", v1alpha1.FailurePolicy{SkipUnreachable: true}, st); err != nil {
		t.Errorf("a group limit of 50%% with 1 of 3 unreachable: %v", err)
	}

	// Back up, the skipped member is retried at the first run's frozen
	// target, in a run linked to it.
	if _, err := testfleet.Fleet(t).Up(ctx, localfleet.Spec{Name: "fp-dead", KubernetesVersion: lower.Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 1}}}); err != nil {
		t.Fatal(err)
	}
	retry, strategy, members, err := engine.Retry(run0, fleet, "past-dead-retry-1", false, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 1 || members[0].Name != "fp-dead" || retry.Annotations[v1alpha1.AnnotationRetryOf] != "past-dead" ||
		retry.Spec.Upgrade.NodeImageSelection.Type != v1alpha1.NodeImageCustom || retry.Spec.Upgrade.NodeImageSelection.Image != run0.Status.NodeImage {
		t.Fatalf("retry of past-dead: members %v, annotations %v, upgrade %+v", members, retry.Annotations, retry.Spec.Upgrade)
	}
	e := newEngine(t, members)
	if _, err := e.Initialize(ctx, retry, strategy); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Drive(ctx, retry.Name); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	got, _ := e.Store.Get(retry.Name)
	if c := clusterStatus(got, "fp-dead"); c.Phase != v1alpha1.PhaseCompleted {
		t.Errorf("fp-dead in the retry: %s %s", c.Phase, c.Message)
	}
	if _, _, _, err := engine.Retry(got, members, "x", true, false); err == nil || !strings.Contains(err.Error(), "left no cluster to retry (none failed)") {
		t.Errorf("a retry of a run that left nothing: %v", err)
	}
}
