package autoupgrade_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/autoupgrade"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) { testfleet.Main(m) }

func write(t *testing.T, name, doc string) string {
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := testfleet.CLI(args...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// scheduler is `upshift schedule` running in the background.
type scheduler struct {
	cmd *exec.Cmd
	out *bytes.Buffer
	mu  *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func start(t *testing.T, args ...string) *scheduler {
	s := &scheduler{cmd: testfleet.CLI(args...), out: &bytes.Buffer{}, mu: &sync.Mutex{}}
	s.cmd.Stdout, s.cmd.Stderr = lockedWriter{s.mu, s.out}, lockedWriter{s.mu, s.out}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.cmd.Process.Kill(); _ = s.cmd.Wait() })
	return s
}

func (s *scheduler) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

func imagesOf(t *testing.T, name string) map[string]int {
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

// profileRuns lists the runs the profile made.
func profileRuns(t *testing.T, st *store.Store) []*v1alpha1.UpdateRun {
	t.Helper()
	runs, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	var out []*v1alpha1.UpdateRun
	for _, r := range runs {
		if r.Labels[autoupgrade.LabelProfile] == "images" {
			out = append(out, r)
		}
	}
	return out
}

// TestScheduleNodeImageChannel follows a NodeImage profile on real local
// clusters: nothing new, nothing made; a published image makes exactly one
// run, which patches dev and holds prod in its blackout; a scheduler
// SIGKILLed and started again makes no second run and drives the first
// on; a newer image waits for the profile's unfinished run.
func TestScheduleNodeImageChannel(t *testing.T) {
	current := nodeimages.Default().Latest().Version
	var wg sync.WaitGroup
	for _, n := range []string{"dev", "prod"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			testfleet.Up(t, localfleet.Spec{Name: n, KubernetesVersion: toolchain.Latest().Minor, NodeImage: current, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
		}()
	}
	wg.Wait()
	day := func(d int) string { return time.Now().UTC().AddDate(0, 0, d).Format(time.DateOnly) }
	fleet := write(t, "fleet.yaml", fmt.Sprintf(`apiVersion: upshift.dev/v1alpha1
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
`, day(-1), day(2)))
	profiles := write(t, "profiles.yaml", `apiVersion: upshift.dev/v1alpha1
kind: AutoUpgradeProfile
metadata: {name: images}
spec:
  channel: NodeImage
  strategyRef: {name: rings}
---
apiVersion: upshift.dev/v1alpha1
kind: AutoUpgradeProfile
metadata: {name: stable}
spec: {channel: Stable}
---
apiVersion: upshift.dev/v1alpha1
kind: UpdateStrategy
metadata: {name: rings}
spec:
  stages:
  - {name: dev, groups: [{name: dev}]}
  - {name: prod, groups: [{name: prod}]}
`)
	st := &store.Store{Dir: testfleet.Fleet(t).Home}
	args := []string{"schedule", "--fleet", fleet, "-f", profiles}

	bad := write(t, "bad.yaml", "apiVersion: upshift.dev/v1alpha1\nkind: AutoUpgradeProfile\nmetadata: {name: x}\nspec: {channel: Nightly}\n")
	if out, code := run(t, "schedule", "--fleet", fleet, "-f", bad, "--once"); code != 2 || !strings.Contains(out, `spec.channel "Nightly"`) {
		t.Fatalf("a bad channel: exit %d\n%s", code, out)
	}
	if out, code := run(t, append(args, "--once", "--dry-run")...); code != 0 || !strings.Contains(out, "profile images (channel NodeImage): nothing new") || !strings.Contains(out, "profile stable (channel Stable): nothing new") {
		t.Fatalf("dry run with nothing new: exit %d\n%s", code, out)
	}
	const image = "ubuntu-2204-2099.02"
	if out, code := run(t, "local", "images", "publish", image, "--cve", "CVE-2099-0002:Critical"); code != 0 {
		t.Fatalf("publish: %d\n%s", code, out)
	}
	name := autoupgrade.RunName("images", image)
	if out, code := run(t, append(args, "--once", "--dry-run")...); code != 0 || !strings.Contains(out, "would create: profile images: run "+name+" brings node image "+image+" to dev, prod") {
		t.Fatalf("dry run with a new image: exit %d\n%s", code, out)
	}
	if runs := profileRuns(t, st); len(runs) != 0 {
		t.Fatalf("a dry run created %d run(s)", len(runs))
	}

	first := start(t, append(args, "--interval", "1s")...)
	waitUntil(t, "prod waits for its window", func() bool {
		r, err := st.Get(name)
		return err == nil && len(r.Status.Stages) == 2 && len(r.Status.Stages[1].Clusters[0].Steps) > 0 && r.Status.Stages[1].Clusters[0].Steps[0].Phase == v1alpha1.PhaseWaiting
	}, first)
	time.Sleep(3 * time.Second) // three more rounds
	if runs := profileRuns(t, st); len(runs) != 1 {
		t.Fatalf("%d runs for one image:\n%s", len(runs), first.output())
	}
	if got := imagesOf(t, "dev"); got[image] != 2 {
		t.Errorf("dev's nodes %v", got)
	}
	if got := imagesOf(t, "prod"); got[image] != 0 {
		t.Errorf("prod patched inside its blackout: %v", got)
	}
	_ = first.cmd.Process.Signal(syscall.SIGKILL)
	_ = first.cmd.Wait()

	second := start(t, append(args, "--interval", "1s")...)
	waitUntil(t, "the restarted scheduler drives the run on", func() bool {
		return strings.Contains(second.output(), "waiting for the maintenance window")
	}, second)
	const newer = "ubuntu-2204-2099.03"
	if out, code := run(t, "local", "images", "publish", newer); code != 0 {
		t.Fatalf("publish: %d\n%s", code, out)
	}
	waitUntil(t, "the newer image waits for the profile's run", func() bool {
		return strings.Contains(second.output(), "run "+autoupgrade.RunName("images", newer)+" brings node image "+newer+" to dev, prod: waits for run "+name+" of the profile to end (`upshift cancel "+name+"` ends it for good)")
	}, second)
	if runs := profileRuns(t, st); len(runs) != 1 || runs[0].Name != name {
		t.Fatalf("runs after a restart and a newer image: %d\n%s", len(runs), second.output())
	}
	events, _ := st.Events(name)
	scheduled := 0
	for _, ev := range events {
		if ev.Type == "Scheduled" {
			scheduled++
		}
	}
	if scheduled != 1 {
		t.Errorf("the audit log says the run was created %d times", scheduled)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool, s *scheduler) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s:\n%s", what, s.output())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
