package compliance

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/nodeimages"
)

func TestBuild(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC) // a Wednesday
	available := []kubeversion.Version{kubeversion.MustParse("1.34.2"), kubeversion.MustParse("1.35.4"), kubeversion.MustParse("1.36.3"), kubeversion.MustParse("1.37.2")}
	images := nodeimages.Default()
	_ = images.Publish(nodeimages.Image{Version: "img-2026.12", Released: metav1.NewTime(now.Add(-time.Hour)), Fixes: []nodeimages.CVE{{ID: "CVE-2026-1111", Severity: "Critical"}}})
	member := func(name string) v1alpha1.Cluster {
		return v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.ClusterSpec{Group: "prod"}}
	}
	sunday := member("old")
	sunday.Spec.MaintenanceWindow = &v1alpha1.MaintenanceWindow{Schedule: v1alpha1.WindowSchedule{Weekly: &v1alpha1.WeeklySchedule{IntervalWeeks: 1, DayOfWeek: "Sunday"}}, StartTime: "02:00", DurationHours: 4}
	observed := []Observed{
		{Cluster: member("fresh"), KubernetesVersion: "v1.37.2", Available: available, Images: images, Pools: []Pool{{Name: "system", Image: "img-2026.12"}}},
		{Cluster: member("mid"), KubernetesVersion: "v1.35.4", Available: available, Images: images, Pools: []Pool{{Name: "system", Image: "ubuntu-2204-2025.03"}}},
		{Cluster: sunday, KubernetesVersion: "v1.34.2", Available: available, Images: images, Pools: []Pool{{Name: "a", Image: "ubuntu-2204-2025.01"}, {Name: "b", Image: "ubuntu-2204-2025.02"}}},
		{Cluster: member("gone"), Err: errors.New("connection refused")},
		// No catalogue for these providers: an image with a known High
		// CVE is not known to be one, so the cluster is not compliant
		// either; unless its version alone makes it not compliant.
		{Cluster: member("scripted"), Provider: "exec", KubernetesVersion: "v1.37.2", Available: available, Pools: []Pool{{Name: "system", Image: "ubuntu-2204-2025.01"}}},
		{Cluster: member("ancient"), Provider: "kubeconfig", KubernetesVersion: "v1.33.1", Available: available, Pools: []Pool{{Name: "system", Image: "x"}}},
		// AKS names each pool's newest image (its upgrade profile), with
		// no catalogue: behind is known, by how much and the CVEs are not.
		{Cluster: member("managed"), Provider: "aks", KubernetesVersion: "v1.37.2", Available: available, Pools: []Pool{
			{Name: "system", Image: "AKSUbuntu-2204gen2containerd-202411.12.0", Newest: "AKSUbuntu-2204gen2containerd-202412.01.0", NewestFrom: "aks upgrade profile"},
			{Name: "win", Image: "AKSWindows-2022-containerd-20348.2849.241112", Newest: "AKSWindows-2022-containerd-20348.2849.241112", NewestFrom: "aks upgrade profile"},
		}},
	}
	start, end := metav1.NewTime(now.Add(-48*time.Hour)), metav1.NewTime(now.Add(-47*time.Hour))
	later := metav1.NewTime(now.Add(-2 * time.Hour))
	runs := []*v1alpha1.UpdateRun{
		{ObjectMeta: metav1.ObjectMeta{Name: "older"}, Status: v1alpha1.UpdateRunStatus{Clusters: []string{"fresh", "mid"}, Start: &start, End: &end, Phase: v1alpha1.PhaseCompleted}},
		{ObjectMeta: metav1.ObjectMeta{Name: "newer"}, Status: v1alpha1.UpdateRunStatus{Clusters: []string{"fresh"}, Start: &later, Phase: v1alpha1.PhaseRunning}},
	}
	r := Build(now, observed, runs)
	if r.Newest != "v1.37.2" || r.LatestImage != "img-2026.12" {
		t.Errorf("newest %s / %s", r.Newest, r.LatestImage)
	}
	byName := map[string]Cluster{}
	for _, c := range r.Clusters {
		byName[c.Name] = c
	}
	fresh, mid, old, gone, scripted, ancient, managed := byName["fresh"], byName["mid"], byName["old"], byName["gone"], byName["scripted"], byName["ancient"], byName["managed"]
	if managed.Compliant || managed.Verdict() != "unknown" || len(managed.Unknown) != 1 || !strings.Contains(managed.Unknown[0], "CVEs: provider aks has no node-image catalogue") ||
		strings.Contains(managed.Unknown[0], "node images") || !managed.Pools[0].BehindNewest() || managed.Pools[1].BehindNewest() {
		t.Errorf("managed (newest images named by AKS): %+v", managed)
	}
	if scripted.Compliant || scripted.Verdict() != "unknown" || scripted.Pools[0].ImageKnown || len(scripted.OpenCVEs) != 0 || len(scripted.Unknown) != 1 || !strings.Contains(scripted.Unknown[0], "provider exec has no node-image catalogue") {
		t.Errorf("scripted (no catalogue): %+v", scripted)
	}
	if ancient.Compliant || ancient.Verdict() != "no" {
		t.Errorf("ancient (no catalogue, unsupported): %+v", ancient)
	}
	if fresh.Verdict() != "yes" || mid.Verdict() != "no" || gone.Verdict() != "no" {
		t.Errorf("verdicts: fresh %s, mid %s, gone %s", fresh.Verdict(), mid.Verdict(), gone.Verdict())
	}
	if fresh.Support != Supported || !fresh.Compliant || len(fresh.OpenCVEs) != 0 || fresh.LastRun.Name != "newer" || fresh.HasWindow {
		t.Errorf("fresh: %+v", fresh)
	}
	if mid.Support != Supported || mid.MinorsBehind != 2 || mid.Compliant || mid.MostSevere != "Critical" || mid.Pools[0].Behind != 1 || mid.LastRun.Name != "older" || mid.LastRun.End == nil {
		t.Errorf("mid (N-2, one image behind a Critical fix): %+v", mid)
	}
	if old.Support != Unsupported || old.MinorsBehind != 3 || old.Compliant || len(old.OpenCVEs) != 4 || old.OpenCVEs[0].Severity != "Critical" || old.LastRun != nil {
		t.Errorf("old (N-3): %+v", old)
	}
	if old.NextWindow == nil || !old.NextWindow.Equal(time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)) || old.WindowOpen {
		t.Errorf("old's next window: %v", old.NextWindow)
	}
	if gone.Error == "" || gone.Compliant {
		t.Errorf("gone: %+v", gone)
	}
	want := Totals{Clusters: 7, Compliant: 1, NotKnown: 2, Unsupported: 2, Unreadable: 1, Pools: 8, PoolsBehind: 4, OpenCVEs: 4, ClustersCritical: 2}
	if r.Totals != want {
		t.Errorf("totals %+v, want %+v", r.Totals, want)
	}

	var text, page bytes.Buffer
	if err := WriteText(&text, r); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"old        v1.34.2", "Unsupported (N-3)", "a=ubuntu-2204-2025.01 (3)", "4 (worst Critical)", "2026-12-06 02:00 UTC", "1 of 7 cluster(s) compliant; 2 not known",
		"system=AKSUbuntu-2204gen2containerd-202411.12.0 (behind AKSUbuntu-2204gen2containerd-202412.01.0, per aks upgrade profile)",
		"win=AKSWindows-2022-containerd-20348.2849.241112 (newest, per aks upgrade profile)", "no (unreadable: connection refused)",
		"system=ubuntu-2204-2025.01 (?)", "unknown (node images and CVEs: provider exec has no node-image catalogue)"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text lacks %q:\n%s", s, text.String())
		}
	}
	if err := WriteHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`id="total-compliant"><div class="n">1/7</div>`, `id="total-not-known"><div class="n">2</div>`, `id="cluster-old"`, "CVE-2026-1111", "<script"} {
		if got := strings.Contains(page.String(), s); got != (s != "<script") {
			t.Errorf("page has %q: %v", s, got)
		}
	}
	if strings.Contains(page.String(), "http://") || strings.Contains(page.String(), "https://") {
		t.Error("the page links to something: it must be self-contained")
	}
}
