package aks_test

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/providers/cluster/aks"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
	"upshift.dev/upshift/internal/window"
)

// TestAKSMaintenanceConfigurationHolds: a window the cluster's owners
// keep in Azure (maintenance configuration aksManagedAutoUpgradeSchedule)
// holds a version upgrade as AKS would, inside upshift's own window: on a
// clock set 3 s before both open, the control-plane step waits, says for
// which windows and from where, and starts once they are open together.
// The node-image schedule, closed for years, does not hold a version run.
func TestAKSMaintenanceConfigurationHolds(t *testing.T) {
	testfleet.Up(t, localfleet.Spec{Name: "aks-windowed", KubernetesVersion: lower.Minor})
	srv, _ := emulator(t)
	ctx := t.Context()
	spec := &v1alpha1.AKSCluster{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: azureemu.AdoptGroup, Name: "aks-windowed", ARMEndpoint: srv.URL}
	p, err := aks.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	date := func(s string) *time.Time { d, _ := time.Parse("2006-01-02", s); return &d }
	for name, w := range map[string]*armcontainerservice.MaintenanceWindow{
		"aksManagedAutoUpgradeSchedule": {Schedule: &armcontainerservice.Schedule{Daily: &armcontainerservice.DailySchedule{IntervalDays: to.Ptr[int32](1)}},
			DurationHours: to.Ptr[int32](4), StartTime: to.Ptr("00:00"), UTCOffset: to.Ptr("+00:00"), StartDate: date("2030-01-01")},
		"aksManagedNodeOSUpgradeSchedule": {Schedule: &armcontainerservice.Schedule{Weekly: &armcontainerservice.WeeklySchedule{IntervalWeeks: to.Ptr[int32](1), DayOfWeek: to.Ptr(armcontainerservice.WeekDaySunday)}},
			DurationHours: to.Ptr[int32](4), StartTime: to.Ptr("00:00"), StartDate: date("2030-01-01"),
			NotAllowedDates: []*armcontainerservice.DateSpan{{Start: date("2029-01-01"), End: date("2040-12-31")}}},
	} {
		if _, err := p.Maintenance.CreateOrUpdate(ctx, azureemu.AdoptGroup, "aks-windowed", name, armcontainerservice.MaintenanceConfiguration{
			Properties: &armcontainerservice.MaintenanceConfigurationProperties{MaintenanceWindow: w}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	windows, err := p.MaintenanceWindows(ctx, "aks-windowed")
	if err != nil || len(windows) != 2 {
		t.Fatalf("MaintenanceWindows = %+v, %v", windows, err)
	}
	slices.SortFunc(windows, func(a, b window.Owned) int { return strings.Compare(a.Source, b.Source) })
	if w := windows[0]; w.Holds != window.HoldsVersions || w.Spec.Schedule.Daily == nil || w.Spec.StartTime != "00:00" || w.Spec.StartDate != "2030-01-01" {
		t.Errorf("the auto-upgrade schedule read as %+v", w)
	}
	if w := windows[1]; w.Holds != window.HoldsNodeImages || w.Spec.Schedule.Weekly == nil || w.Spec.Schedule.Weekly.DayOfWeek != "Sunday" || len(w.Spec.NotAllowedDates) != 1 {
		t.Errorf("the node OS schedule read as %+v", w)
	}

	opening := time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)
	var offset time.Duration
	fc := v1alpha1.Cluster{TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "Cluster"}, ObjectMeta: metav1.ObjectMeta{Name: "aks-windowed"},
		Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderAKS, AKS: spec, Group: "all",
			MaintenanceWindow: &v1alpha1.MaintenanceWindow{Schedule: v1alpha1.WindowSchedule{Daily: &v1alpha1.DailySchedule{IntervalDays: 1}}, StartTime: "23:00", DurationHours: 6, StartDate: "2029-12-01"}}}
	e := &engine.Engine{Store: &store.Store{Dir: t.TempDir()}, Fleet: []v1alpha1.Cluster{fc}, Poll: 100 * time.Millisecond,
		Resolve: fleetmember.NewResolver(fleetmember.Env{Home: testfleet.Fleet(t).Home, CacheDir: toolchain.DefaultCacheDir()}),
		Now:     func() time.Time { return time.Now().Add(offset) }}
	var mu sync.Mutex
	var events []engine.Event
	e.Progress = func(ev engine.Event) { mu.Lock(); events = append(events, ev); mu.Unlock() }
	strategy := &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "all", Groups: []v1alpha1.GroupRef{{Name: "all"}}}}}
	run := &v1alpha1.UpdateRun{TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "UpdateRun"}, ObjectMeta: metav1.ObjectMeta{Name: "held-by-aks"},
		Spec: v1alpha1.UpdateRunSpec{Strategy: strategy, Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeControlPlaneOnly, KubernetesVersion: higher.Minor}}}
	offset = time.Until(opening.Add(-time.Minute))
	p0, err := e.Initialize(ctx, run, strategy)
	if err != nil {
		t.Fatal(err)
	}
	// The plan says when the two windows are next open at once.
	if notes := strings.Join(p0.Stages[0].Groups[0].Clusters[0].Notes, "\n"); !strings.Contains(notes, "its 2 windows are next all open together Tue 1 Jan 00:00") {
		t.Errorf("the plan's notes do not say when the windows meet:\n%s", notes)
	}
	// upshift's own window is open from 23:00; AKS's opens at 00:00.
	offset = time.Until(opening.Add(-3 * time.Second))
	start := time.Now()
	final, err := e.Drive(ctx, run.Name)
	if err != nil {
		t.Fatal(err)
	}
	step := final.Status.Stages[0].Clusters[0].Steps[0]
	if final.Status.Phase != v1alpha1.PhaseCompleted || step.Start == nil || step.Start.Sub(start) < 2*time.Second {
		t.Errorf("run %s; the control-plane step started %v after the drive, before AKS's window opened", final.Status.Phase, step.Start.Sub(start))
	}
	mu.Lock()
	defer mu.Unlock()
	const want = "waiting for the maintenance window (every 1 day(s) at 23:00 UTC for 6h) and AKS maintenance configuration aksManagedAutoUpgradeSchedule (every 1 day(s) at 00:00 UTC+00:00 for 4h): all open Tue 1 Jan 00:00 UTC+00:00, in 3s"
	if !slices.ContainsFunc(events, func(ev engine.Event) bool { return ev.Type == "Waiting" && strings.Contains(ev.Message, want) }) {
		var said []string
		for _, ev := range events {
			said = append(said, ev.Type+": "+ev.Message)
		}
		t.Errorf("no Waiting event says %q:\n%s", want, strings.Join(said, "\n"))
	}
}
