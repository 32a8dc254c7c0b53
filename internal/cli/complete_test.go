package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
)

// TestCompletion: shells complete a command's RUN from the home's runs
// (with their phase), and --stage and --cluster from the run named.
func TestCompletion(t *testing.T) {
	home := t.TempDir()
	st := &store.Store{Dir: home}
	for _, name := range []string{"patch-eu", "patch-us", "minor"} {
		if err := st.Create(&v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	status := &v1alpha1.UpdateRunStatus{Phase: v1alpha1.PhaseWaiting, Stages: []v1alpha1.StageStatus{
		{Name: "canary", Phase: v1alpha1.PhaseCompleted, Clusters: []v1alpha1.StageClusterStatus{{Name: "eu-1", Phase: v1alpha1.PhaseCompleted}}},
		{Name: "prod", Phase: v1alpha1.PhaseWaiting, Clusters: []v1alpha1.StageClusterStatus{{Name: "eu-2", Phase: v1alpha1.PhaseNotStarted}, {Name: "eu-3", Phase: v1alpha1.PhaseNotStarted}}},
	}}
	if err := st.SaveStatus("patch-eu", status); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
		not  string
	}{
		{[]string{"status", "--home", home, "patch-"}, []string{"patch-eu\tWaiting", "patch-us\tnot started", ":4"}, "minor"},
		{[]string{"resume", "--home", home, ""}, []string{"minor", "patch-eu", "patch-us"}, ""},
		{[]string{"approve", "patch-eu", "--home", home, "--stage", ""}, []string{"canary\tCompleted", "prod\tWaiting"}, "eu-"},
		{[]string{"skip", "patch-eu", "--home", home, "--cluster", "eu-"}, []string{"eu-1\tstage canary: Completed", "eu-2\tstage prod: NotStarted", "eu-3"}, "prod\t"},
		{[]string{"status", "patch-eu", "--home", home, ""}, []string{":4"}, "patch"},
	} {
		code, out, stderr := run(t, append([]string{"__complete"}, tc.args...)...)
		if code != 0 {
			t.Errorf("__complete %s: exit %d\n%s", strings.Join(tc.args, " "), code, stderr)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("__complete %s lacks %q:\n%s", strings.Join(tc.args, " "), w, out)
			}
		}
		if tc.not != "" && strings.Contains(out, tc.not) {
			t.Errorf("__complete %s offers %q:\n%s", strings.Join(tc.args, " "), tc.not, out)
		}
	}

	// kubectl completes `kubectl upshift …` through kubectl_complete-upshift
	// on PATH: the same program under that name.
	cmd := testfleet.CLI("status", "--home", home, "patch-")
	link := filepath.Join(t.TempDir(), "kubectl_complete-upshift")
	if err := os.Symlink(cmd.Path, link); err != nil {
		t.Fatal(err)
	}
	cmd.Path, cmd.Args[0] = link, link
	if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "patch-eu\tWaiting") {
		t.Errorf("kubectl_complete-upshift status patch-: %v\n%s", err, out)
	}
}
