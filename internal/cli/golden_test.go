package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the output")

// golden compares out with testdata/NAME.golden (rewritten with
// `go test ./internal/cli -run TestGolden -update`).
func golden(t *testing.T, name string, out []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (write it with -update)", err)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("%s differs from %s (-update rewrites it after a deliberate change):\n--- got\n%s--- want\n%s", name, path, out, want)
	}
}

// TestGoldenHumanOutput: what people read — a run's report and a plan —
// stays as it is unless changed on purpose.
func TestGoldenHumanOutput(t *testing.T) {
	at := func(s int) *metav1.Time {
		return &metav1.Time{Time: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC).Add(time.Duration(s) * time.Second)}
	}
	done := func(name, kind string, from, to int, m string) v1alpha1.StepStatus {
		return v1alpha1.StepStatus{Name: name, Kind: kind, Phase: v1alpha1.PhaseCompleted, Start: at(from), End: at(to), Message: m}
	}
	run := &v1alpha1.UpdateRun{
		ObjectMeta: metav1.ObjectMeta{Name: "fleet-to-1-37-retry-1", Annotations: map[string]string{v1alpha1.AnnotationRetryOf: "fleet-to-1-37"}},
		Status: v1alpha1.UpdateRunStatus{Phase: v1alpha1.PhaseFailed, Start: at(0), End: at(754), Message: "stage prod: cluster prod-2: draining node user-b did not finish",
			Stages: []v1alpha1.StageStatus{
				{Name: "dev", Phase: v1alpha1.PhaseCompleted, Start: at(0), End: at(300),
					Clusters: []v1alpha1.StageClusterStatus{{Name: "dev-1", Group: "dev", FromVersion: "v1.36.3", Phase: v1alpha1.PhaseCompleted, Start: at(0), End: at(240),
						Steps: []v1alpha1.StepStatus{
							done("ControlPlane v1.37.2", "ControlPlane", 0, 90, "control plane at v1.37.2 (1m30s)"),
							done("NodePool user", "NodePool", 90, 240, "3 node(s) replaced in 3 batch(es) in 2m30s, node image ubuntu-2204-2025.02"),
						}}},
					AfterTasks: []v1alpha1.TaskStatus{{Name: "soak", Type: "TimedWait", Phase: v1alpha1.PhaseCompleted, Start: at(240), End: at(300)}}},
				{Name: "prod", Phase: v1alpha1.PhaseFailed, Start: at(300), End: at(754), Message: "cluster prod-2: draining node user-b did not finish",
					BeforeTasks: []v1alpha1.TaskStatus{{Name: "release-manager", Type: "Approval", Phase: v1alpha1.PhaseCompleted, ApprovedBy: "carol", ApprovedAt: at(310)}},
					Clusters: []v1alpha1.StageClusterStatus{
						{Name: "prod-1", Group: "prod", FromVersion: "v1.36.3", Phase: v1alpha1.PhaseSkipped, Unreachable: true, Start: at(311), End: at(331),
							Message: "skipped: unreachable at its turn: its provider reports it stopped (AKS: powerState Stopped; `az aks start` starts it)"},
						{Name: "prod-2", Group: "prod", FromVersion: "v1.36.3", Phase: v1alpha1.PhaseFailed, Start: at(331), End: at(754), Message: "draining node user-b did not finish",
							Steps: []v1alpha1.StepStatus{
								done("ControlPlane v1.37.2", "ControlPlane", 331, 420, "control plane at v1.37.2 (1m29s)"),
								{Name: "NodePool user", Kind: "NodePool", Phase: v1alpha1.PhaseFailed, Start: at(420), End: at(754), Message: "draining node user-b did not finish: pod pay/ledger-0 (PodDisruptionBudget pay/ledger allows no disruption)"},
							}},
					}},
			}},
	}
	var report bytes.Buffer
	writeRunReport(&report, run)
	golden(t, "run-report", report.Bytes())

	var plan bytes.Buffer
	printPlan(&plan, planView{NodeImage: "ubuntu-2204-2025.02", Stages: []planStageView{
		{Name: "dev", MaxConcurrency: "1", Groups: []planGroupView{{Name: "dev", Clusters: []planClusterView{
			{Name: "dev-1", FromVersion: "v1.36.3", Steps: []string{"ControlPlane v1.37.2", "NodePool user"}}}}},
			After: []v1alpha1.StageTask{{Type: v1alpha1.TaskTimedWait, Name: "soak", WaitTime: &metav1.Duration{Duration: time.Minute}}}},
		{Name: "prod", MaxConcurrency: "25%", Before: []v1alpha1.StageTask{{Type: v1alpha1.TaskApproval, Name: "release-manager"}},
			Groups: []planGroupView{{Name: "prod", Clusters: []planClusterView{
				{Name: "prod-1", FromVersion: "v1.36.3", Steps: []string{"ControlPlane v1.37.2", "NodePool user"}, Notes: []string{"AKS maintenance configuration aksManagedAutoUpgradeSchedule: every 1 day(s) at 00:00 UTC+00:00 for 4h"}},
				{Name: "prod-2", FromVersion: "v1.36.3", Steps: []string{"ControlPlane v1.37.2", "NodePool user"}}}}}},
	}})
	golden(t, "plan", plan.Bytes())
}
