package patch_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) { testfleet.Main(m) }

// fleetFile writes a fleet of dev (no window) and prod, whose daily window
// is blacked out from yesterday to the day after tomorrow: closed now.
func fleetFile(t *testing.T) string {
	day := func(d int) string { return time.Now().UTC().AddDate(0, 0, d).Format(time.DateOnly) }
	doc := fmt.Sprintf(`apiVersion: upshift.dev/v1alpha1
kind: Cluster
metadata: {name: dev}
spec: {provider: local, local: {name: dev}, group: dev}
---
apiVersion: upshift.dev/v1alpha1
kind: Cluster
metadata: {name: prod}
spec:
  provider: local
  local: {name: prod}
  group: prod
  maintenanceWindow:
    schedule: {daily: {intervalDays: 1}}
    startTime: "00:00"
    durationHours: 24
    notAllowedDates: [{start: %q, end: %q}]
`, day(-1), day(2))
	path := filepath.Join(t.TempDir(), "fleet.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const strategyDoc = `apiVersion: upshift.dev/v1alpha1
kind: UpdateStrategy
metadata: {name: dev-then-prod}
spec:
  emergency: {afterStageWait: 1s, skipApprovals: false}
  stages:
  - name: dev
    groups: [{name: dev}]
    afterStageWaitInSeconds: 86400
  - name: prod
    groups: [{name: prod}]
`

func cli(t *testing.T, ctx context.Context, args ...string) (string, int) {
	t.Helper()
	cmd := testfleet.CLI(args...)
	if ctx != nil {
		cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
		cmd.Env = testfleet.CLI().Env
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("upshift %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), code
}

// images reads the node images of a cluster's live nodes.
func images(t *testing.T, name string) map[string]int {
	t.Helper()
	c, err := testfleet.Fleet(t).Get(name)
	if err != nil {
		t.Fatal(err)
	}
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	list, err := client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{LabelSelector: localfleet.LabelNodePool + "=user"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, n := range list.Items {
		out[n.Labels[localfleet.LabelNodeImage]]++
	}
	return out
}

// TestEmergencyPatch publishes an image with a critical CVE and patches a
// two-stage fleet: a blackout holds prod while dev is patched; with the
// override (and only with a reason) every cluster is patched, the audit
// log says who overrode which window and why, and the report gives each
// cluster's time from the release to patched.
func TestEmergencyPatch(t *testing.T) {
	var wg sync.WaitGroup
	for _, n := range []string{"dev", "prod"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			testfleet.Up(t, localfleet.Spec{Name: n, KubernetesVersion: toolchain.Latest().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
		}()
	}
	wg.Wait()
	fleet := fleetFile(t)
	strategy := filepath.Join(t.TempDir(), "strategy.yaml")
	if err := os.WriteFile(strategy, []byte(strategyDoc), 0o600); err != nil {
		t.Fatal(err)
	}
	const image, cve = "ubuntu-2204-2099.01", "CVE-2099-0001"
	if out, code := cli(t, nil, "patch", "--cve", cve, "--fleet", fleet); code != 2 || !strings.Contains(out, "no image of the catalogue fixes "+cve) {
		t.Fatalf("patch before the fix is published: exit %d\n%s", code, out)
	}
	if out, code := cli(t, nil, "local", "images", "publish", image, "--cve", cve+":Critical"); code != 0 {
		t.Fatalf("publish: exit %d\n%s", code, out)
	}
	st := &store.Store{Dir: testfleet.Fleet(t).Home}

	// The blackout holds prod; dev is patched, and its one-day soak is cut
	// to the policy's second.
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	done := make(chan string, 1)
	go func() {
		out, _ := cli(t, ctx, "patch", "--cve", cve, "--fleet", fleet, "-f", strategy, "--name", "held")
		done <- out
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		run, err := st.Get("held")
		if err == nil && len(run.Status.Stages) == 2 && len(run.Status.Stages[1].Clusters) == 1 && len(run.Status.Stages[1].Clusters[0].Steps) > 0 &&
			run.Status.Stages[1].Clusters[0].Steps[0].Phase == v1alpha1.PhaseWaiting {
			if msg := run.Status.Stages[1].Clusters[0].Steps[0].Message; !strings.Contains(msg, "waiting for the maintenance window") || !strings.Contains(msg, "`upshift resume held --override-maintenance-windows --reason TEXT` overrides it") {
				t.Errorf("prod waits with %q", msg)
			}
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("prod never waited for its window:\n%s", <-done)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := images(t, "prod"); got[image] != 0 {
		t.Errorf("prod was patched inside its blackout: %v", got)
	}
	// The held run is given the override while its driver waits: only
	// with a reason, and only for a patch; the driver takes it up.
	if out, code := cli(t, nil, "resume", "held", "--override-maintenance-windows"); code != 2 || !strings.Contains(out, "needs --reason") {
		t.Fatalf("resume with an override and no reason: exit %d\n%s", code, out)
	}
	if out, code := cli(t, nil, "resume", "held", "--override-maintenance-windows", "--reason", "the fix cannot wait"); code != 0 || !strings.Contains(out, "it takes the override at its next look") {
		t.Fatalf("resume with an override: exit %d\n%s", code, out)
	}
	out := <-done
	if !strings.Contains(out, "run held completed") {
		t.Errorf("the held run did not complete after the override:\n%s", out)
	}
	for _, n := range []string{"dev", "prod"} {
		if got := images(t, n); got[image] != 2 {
			t.Errorf("%s's nodes after the held run: %v\n%s", n, got, out)
		}
	}
	heldEvents, _ := st.Events("held")
	var heldAudit []string
	for _, ev := range heldEvents {
		heldAudit = append(heldAudit, ev.Type+" "+ev.Cluster+" "+ev.Message)
	}
	if all := strings.Join(heldAudit, "\n"); !strings.Contains(all, "WindowsOverride  maintenance windows overridden by ") || !strings.Contains(all, ": the fix cannot wait") ||
		!strings.Contains(all, "WindowOverridden prod the maintenance window") {
		t.Errorf("the held run's audit lacks the override:\n%s", all)
	}

	// A second fix, patched with the override from the start.
	const image2, cve2 = "ubuntu-2204-2099.02", "CVE-2099-0002"
	if out, code := cli(t, nil, "local", "images", "publish", image2, "--cve", cve2+":Critical"); code != 0 {
		t.Fatalf("publish: exit %d\n%s", code, out)
	}

	// An override needs a reason, and creates nothing without one.
	if out, code := cli(t, nil, "patch", "--cve", cve2, "--fleet", fleet, "--override-maintenance-windows", "--name", "now"); code != 2 || !strings.Contains(out, "needs --reason") {
		t.Fatalf("override without a reason: exit %d\n%s", code, out)
	}
	if _, err := st.Get("now"); err == nil {
		t.Fatal("a refused patch created its run")
	}
	out, code := cli(t, nil, "patch", "--cve", cve2, "--fleet", fleet, "-f", strategy, "--name", "now",
		"--override-maintenance-windows", "--reason", "exploited in the wild", "--by", "alice")
	if code != 0 {
		t.Fatalf("patch with override: exit %d\n%s", code, out)
	}
	for _, n := range []string{"dev", "prod"} {
		if got := images(t, n); got[image2] != 2 || len(got) != 1 {
			t.Errorf("%s's nodes after the patch: %v", n, got)
		}
		if !strings.Contains(out, "    "+n+": patched ") || !strings.Contains(out, "(within target)") {
			t.Errorf("the report has no time to patched for %s:\n%s", n, out)
		}
	}
	events, err := st.Events("now")
	if err != nil {
		t.Fatal(err)
	}
	var audit []string
	for _, ev := range events {
		audit = append(audit, ev.Type+" "+ev.Cluster+" "+ev.Message)
	}
	all := strings.Join(audit, "\n")
	for _, want := range []string{
		"EmergencyPatch  node image " + image2,
		"EmergencyPolicy  stage dev: soak afterStageWait shortened from 24h0m0s to 1s",
		"WindowsOverride  maintenance windows overridden by alice (as ",
		"WindowOverridden prod the maintenance window",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("audit log lacks %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "WindowOverridden dev") {
		t.Error("dev has no window, yet the audit says one was overridden")
	}
	run, err := st.Get("now")
	if err != nil || run.Spec.Patch == nil || run.Spec.Patch.NodeImage != image2 || run.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("stored run: %+v, %v", run, err)
	}
	feed, _ := nodeimages.Load(testfleet.Fleet(t).NodeImagesPath())
	if img, _ := feed.Find(image2); !run.Spec.Patch.Released.Equal(&img.Released) {
		t.Errorf("the run counts from %s, the image was released %s", run.Spec.Patch.Released, img.Released)
	}
}
