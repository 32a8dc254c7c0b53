package dashboard

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
)

// TestGateApprovalsShown: a cluster's Approval gate that waits inside a
// step (kept in its gateWaits) gets its own approve button, posting the
// cluster and the gate; a soak kept beside it and a gate already given
// (no longer kept) get none.
func TestGateApprovalsShown(t *testing.T) {
	run := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "r1"},
		Spec: v1alpha1.UpdateRunSpec{Gates: v1alpha1.RunGates{
			Preflight:   []v1alpha1.GateSpec{{Name: "settle", Type: v1alpha1.GateTimedWait}, {Name: "change-ticket", Type: v1alpha1.GateApproval}},
			PostUpgrade: []v1alpha1.GateSpec{{Name: "sign-off", Type: v1alpha1.GateApproval}}}},
		Status: v1alpha1.UpdateRunStatus{Phase: v1alpha1.PhaseWaiting, Stages: []v1alpha1.StageStatus{{Name: "prod", Phase: v1alpha1.PhaseRunning,
			Clusters: []v1alpha1.StageClusterStatus{
				{Name: "c1", Phase: v1alpha1.PhaseRunning, Steps: []v1alpha1.StepStatus{{Name: "Preflight", Phase: v1alpha1.PhaseWaiting,
					GateWaits: []v1alpha1.GateWait{{Gate: "settle"}, {Gate: "change-ticket"}}}}},
				{Name: "c2", Phase: v1alpha1.PhaseCompleted, Steps: []v1alpha1.StepStatus{{Name: "PostUpgrade", Phase: v1alpha1.PhaseCompleted,
					GateWaits: []v1alpha1.GateWait{{Gate: "sign-off"}}}}},
			}}}},
	}
	got := waitingApprovals(run)
	if len(got) != 1 || got[0] != (approval{Stage: "prod", Cluster: "c1", Gate: "change-ticket"}) {
		t.Fatalf("waiting approvals %+v, want c1's change-ticket alone", got)
	}
	var page strings.Builder
	if err := pages.ExecuteTemplate(&page, "run.html", view{Where: "test", Who: "alice", CSRF: "t0k3n", Run: run}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="approve-c1-change-ticket"`, `name="cluster" value="c1"`, `name="gate" value="change-ticket"`, "Approve change-ticket of c1"} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("the run page lacks %s", want)
		}
	}
	if strings.Contains(page.String(), `id="approve-c1-settle"`) || strings.Contains(page.String(), `id="approve-c2-sign-off"`) {
		t.Error("the run page offers to approve a soak or a completed step's gate")
	}
}
