package patch

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/nodeimages"
)

func TestPickImage(t *testing.T) {
	f := nodeimages.Default()
	for _, tc := range []struct {
		name, image string
		cves        []string
		want, err   string
	}{
		{name: "newest when nothing is named", want: "ubuntu-2204-2025.03"},
		{name: "the first image fixing a CVE", cves: []string{"CVE-2025-10001"}, want: "ubuntu-2204-2025.02"},
		{name: "the first image fixing all", cves: []string{"CVE-2025-10001", "CVE-2025-10003"}, want: "ubuntu-2204-2025.03"},
		{name: "a named image that fixes it", image: "ubuntu-2204-2025.03", cves: []string{"CVE-2025-10001"}, want: "ubuntu-2204-2025.03"},
		{name: "a named image too old", image: "ubuntu-2204-2025.02", cves: []string{"CVE-2025-10002"}, err: "ubuntu-2204-2025.02 does not fix CVE-2025-10002: ubuntu-2204-2025.03 is the first image that does"},
		{name: "an unknown CVE", cves: []string{"CVE-2031-9999"}, err: "no image of the catalogue fixes CVE-2031-9999"},
		{name: "a malformed CVE", cves: []string{"2025-1"}, err: "not a CVE identifier"},
		{name: "an unknown image", image: "ubuntu-9999", err: "not in the catalogue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := PickImage(f, tc.image, tc.cves)
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
			case err != nil || img.Version != tc.want:
				t.Fatalf("got %s, %v; want %s", img.Version, err, tc.want)
			}
		})
	}
}

func wait(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func TestCompress(t *testing.T) {
	strategy := &v1alpha1.UpdateStrategySpec{
		Emergency: &v1alpha1.EmergencyPolicy{AfterStageWait: wait(10 * time.Minute), SkipApprovals: true},
		Stages: []v1alpha1.StageSpec{
			{Name: "dev", Groups: []v1alpha1.GroupRef{{Name: "dev"}}, AfterStageWaitInSeconds: 3600,
				AfterStageTasks: []v1alpha1.StageTask{
					{Type: v1alpha1.TaskGate, Name: "smoke", Gate: &v1alpha1.GateSpec{Name: "smoke", Type: v1alpha1.GateHTTP}},
					{Type: v1alpha1.TaskTimedWait, Name: "short", WaitTime: wait(time.Minute)},
					{Type: v1alpha1.TaskApproval, Name: "qa"},
				}},
			{Name: "prod", Groups: []v1alpha1.GroupRef{{Name: "prod"}},
				BeforeStageTasks: []v1alpha1.StageTask{{Type: v1alpha1.TaskApproval, Name: "cab"}}},
		},
	}
	out, changes := Compress(strategy, nil)
	dev := out.Stages[0]
	var got []string
	for _, t := range dev.AfterStageTasks {
		s := t.Type + ":" + t.Name
		if t.WaitTime != nil {
			s += ":" + t.WaitTime.Duration.String()
		}
		got = append(got, s)
	}
	want := []string{"Gate:smoke", "TimedWait:short:1m0s", "TimedWait:afterStageWait:10m0s"}
	if strings.Join(got, " ") != strings.Join(want, " ") || dev.AfterStageWaitInSeconds != 0 {
		t.Errorf("dev's after tasks %v (afterStageWaitInSeconds %d), want %v", got, dev.AfterStageWaitInSeconds, want)
	}
	if len(out.Stages[1].BeforeStageTasks) != 0 {
		t.Errorf("prod's approval kept: %+v", out.Stages[1].BeforeStageTasks)
	}
	wantChanges := []string{
		"stage dev: approval qa after the stage skipped",
		"stage dev: soak afterStageWait shortened from 1h0m0s to 10m0s",
		"stage prod: approval cab before the stage skipped",
	}
	if strings.Join(changes, "\n") != strings.Join(wantChanges, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(changes, "\n"), strings.Join(wantChanges, "\n"))
	}
	if strategy.Stages[0].AfterStageWaitInSeconds != 3600 || len(strategy.Stages[1].BeforeStageTasks) != 1 {
		t.Error("Compress changed the strategy it was given")
	}

	strategy.Emergency.SkipApprovals = false
	out, _ = Compress(strategy, nil)
	if len(out.Stages[1].BeforeStageTasks) != 1 || len(out.Stages[0].AfterStageTasks) != 4 {
		t.Errorf("approvals dropped without skipApprovals: %+v", out.Stages)
	}
	strategy.Emergency = nil
	out, changes = Compress(strategy, nil)
	if out.Stages[0].AfterStageWaitInSeconds != 3600 || !strings.Contains(changes[0], "no emergency policy") {
		t.Errorf("without a policy: %+v, %v", out.Stages[0], changes)
	}
	out, _ = Compress(nil, nil)
	if len(out.Stages) != 1 || out.Stages[0].LabelSelector == nil {
		t.Errorf("no strategy: %+v", out)
	}
}

func TestRunName(t *testing.T) {
	for in, want := range map[string]string{
		"ubuntu-2204-2026.12":    "patch-ubuntu-2204-2026.12",
		"AKSUbuntu_2204_2026.12": "patch-aksubuntu-2204-2026.12",
		strings.Repeat("x", 80):  "patch-" + strings.Repeat("x", 57),
	} {
		if got := RunName(in); got != want {
			t.Errorf("RunName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReport(t *testing.T) {
	released := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	end := metav1.NewTime(released.Add(95 * time.Minute))
	run := &v1alpha1.UpdateRun{Spec: v1alpha1.UpdateRunSpec{Patch: &v1alpha1.PatchSpec{Released: metav1.NewTime(released)}}}
	run.Status.Stages = []v1alpha1.StageStatus{{Clusters: []v1alpha1.StageClusterStatus{
		{Name: "b", Phase: v1alpha1.PhaseWaiting},
		{Name: "a", Phase: v1alpha1.PhaseCompleted, End: &end},
	}}}
	got := Report(run)
	if len(got) != 2 || got[1].Cluster != "a" || got[1].After != 95*time.Minute || got[0].After != 0 || got[0].Phase != v1alpha1.PhaseWaiting {
		t.Errorf("report %+v", got)
	}
}

// TestNamedImage: a pool that can only move to the image its provider
// names (AKS) gets it when it carries the fix, is refused when the
// catalogue says it is older than the fix, and goes with a note saying its
// fixes are not known when the catalogue does not list it.
func TestNamedImage(t *testing.T) {
	f := nodeimages.Default()
	fix, _ := f.Find("ubuntu-2204-2025.02")
	cves := []string{"CVE-2025-10001"}
	for _, tc := range []struct {
		named, note, err string
	}{
		{named: "ubuntu-2204-2025.02"},
		{named: "ubuntu-2204-2025.03", note: "pool user of aks1 moves to ubuntu-2204-2025.03, the image its provider names for it, released after ubuntu-2204-2025.02"},
		{named: "ubuntu-2204-2025.01", err: "pool user of aks1 can only move to ubuntu-2204-2025.01, the image its provider names for it, released before ubuntu-2204-2025.02: it does not carry the fix yet"},
		{named: "AKSUbuntu-2204gen2containerd-202412.01.0", note: "the catalogue does not list it, so whether it fixes CVE-2025-10001 is not known"},
	} {
		note, err := NamedImage(f, fix, cves, "pool user of aks1", tc.named)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %q, %v; want the error %q", tc.named, note, err, tc.err)
			}
			continue
		}
		if err != nil || !strings.Contains(note, tc.note) || (tc.note == "") != (note == "") {
			t.Errorf("%s: %q, %v; want the note %q", tc.named, note, err, tc.note)
		}
	}
}
