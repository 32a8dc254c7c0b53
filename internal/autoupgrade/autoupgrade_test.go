package autoupgrade

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/nodeimages"
)

func versions(s ...string) []kubeversion.Version {
	var out []kubeversion.Version
	for _, v := range s {
		out = append(out, kubeversion.MustParse(v))
	}
	return out
}

func TestChannelTargets(t *testing.T) {
	available := versions("1.35.1", "1.35.4", "1.36.0", "1.36.3", "1.37.2", "1.37.0")
	for _, tc := range []struct {
		channel, minor, current string
		want                    string // "" is no upgrade
	}{
		{v1alpha1.ChannelRapid, "", "1.35.1", "v1.37.2"},
		{v1alpha1.ChannelRapid, "", "1.37.2", ""},
		{v1alpha1.ChannelStable, "", "1.35.1", "v1.36.3"}, // N-1 of the newest minor
		{v1alpha1.ChannelStable, "", "1.36.0", "v1.36.3"}, // a patch within N-1
		{v1alpha1.ChannelStable, "", "1.36.3", ""},        // there already
		{v1alpha1.ChannelStable, "", "1.37.0", ""},        // never back from N to N-1
		{v1alpha1.ChannelPatch, "", "1.35.1", "v1.35.4"},  // its own minor's newest patch
		{v1alpha1.ChannelPatch, "", "1.36.0", "v1.36.3"},  // another minor, its own patch
		{v1alpha1.ChannelPatch, "", "1.35.4", ""},         // newest patch already
		{v1alpha1.ChannelPatch, "", "1.34.9", ""},         // its minor is not offered
		{v1alpha1.ChannelTargetKubernetesVersion, "1.36", "1.35.1", "v1.36.3"},
		{v1alpha1.ChannelTargetKubernetesVersion, "1.36", "1.37.0", ""}, // past the target
		{v1alpha1.ChannelTargetKubernetesVersion, "1.38", "1.35.1", ""}, // not offered (yet)
		{v1alpha1.ChannelNodeImage, "", "1.35.1", ""},                   // not a version channel
	} {
		var minor kubeversion.Version
		if tc.minor != "" {
			minor = kubeversion.MustParse(tc.minor)
		}
		got, ok := Target(tc.channel, minor, available, kubeversion.MustParse(tc.current))
		if tc.want == "" {
			if ok {
				t.Errorf("%s from %s: offered %s, want nothing", tc.channel, tc.current, got)
			}
			continue
		}
		if !ok || got.String() != tc.want {
			t.Errorf("%s from %s: got %s (%v), want %s", tc.channel, tc.current, got, ok, tc.want)
		}
	}
	if _, ok := Target(v1alpha1.ChannelRapid, kubeversion.Version{}, nil, kubeversion.MustParse("1.35.1")); ok {
		t.Error("a provider that offers nothing offered something")
	}
}

func TestValidate(t *testing.T) {
	strategies := map[string]*v1alpha1.UpdateStrategy{"s": {}}
	for _, tc := range []struct {
		spec v1alpha1.AutoUpgradeProfileSpec
		want string
	}{
		{v1alpha1.AutoUpgradeProfileSpec{Channel: "Nightly"}, "spec.channel \"Nightly\""},
		{v1alpha1.AutoUpgradeProfileSpec{Channel: "TargetKubernetesVersion"}, "needs spec.targetKubernetesVersion"},
		{v1alpha1.AutoUpgradeProfileSpec{Channel: "TargetKubernetesVersion", TargetKubernetesVersion: "1.36.2"}, "name a minor such as \"1.36\""},
		{v1alpha1.AutoUpgradeProfileSpec{Channel: "TargetKubernetesVersion", TargetKubernetesVersion: "one"}, "targetKubernetesVersion"},
		{v1alpha1.AutoUpgradeProfileSpec{Channel: "Stable", TargetKubernetesVersion: "1.36"}, "not Stable"},
		{v1alpha1.AutoUpgradeProfileSpec{Channel: "Stable", StrategyRef: &v1alpha1.StrategyRef{Name: "nope"}}, "does not hold"},
		{v1alpha1.AutoUpgradeProfileSpec{Channel: "NodeImage", NodeImageSelection: &v1alpha1.NodeImageSelection{Type: "Custom"}}, "use Latest or Consistent"},
		{v1alpha1.AutoUpgradeProfileSpec{Channel: "TargetKubernetesVersion", TargetKubernetesVersion: "1.36", StrategyRef: &v1alpha1.StrategyRef{Name: "s"}}, ""},
	} {
		err := Validate(&v1alpha1.AutoUpgradeProfile{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: tc.spec}, strategies)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: got %v, want %q", tc.spec, err, tc.want)
		}
	}
}

func member(name, group string) v1alpha1.Cluster {
	return v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.ClusterSpec{Group: group}}
}

func TestWant(t *testing.T) {
	fleet := []v1alpha1.Cluster{member("dev", "dev"), member("prod-a", "prod"), member("prod-b", "prod"), member("gone", "prod")}
	available := versions("1.36.1", "1.36.3", "1.37.2")
	images := nodeimages.Default()
	latest := images.Latest().Version
	obs := Observed{Images: images, Clusters: map[string]ClusterState{
		"dev":    {Version: kubeversion.MustParse("1.37.2"), Available: available, PoolImages: []string{latest}},
		"prod-a": {Version: kubeversion.MustParse("1.36.1"), Available: available, PoolImages: []string{latest, "ubuntu-2204-2025.01"}},
		"prod-b": {Version: kubeversion.MustParse("1.36.3"), Available: available, PoolImages: []string{latest}},
	}}
	strategies := map[string]*v1alpha1.UpdateStrategy{"rings": {Spec: v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{
		{Name: "dev", Groups: []v1alpha1.GroupRef{{Name: "dev"}}, AfterStageWaitInSeconds: 60},
		{Name: "prod", Groups: []v1alpha1.GroupRef{{Name: "prod"}}},
	}}}}
	profile := func(channel string) *v1alpha1.AutoUpgradeProfile {
		return &v1alpha1.AutoUpgradeProfile{ObjectMeta: metav1.ObjectMeta{Name: "fleet-" + strings.ToLower(channel)},
			Spec: v1alpha1.AutoUpgradeProfileSpec{Channel: channel, StrategyRef: &v1alpha1.StrategyRef{Name: "rings"}}}
	}

	// Patch: each cluster's own minor; prod-a only (dev and prod-b are on
	// their minor's newest patch).
	got := Want(profile(v1alpha1.ChannelPatch), strategies, fleet, obs)
	if len(got) != 1 || got[0].Target != "v1.36.3" || len(got[0].Clusters) != 1 || got[0].Clusters[0].Name != "prod-a" {
		t.Fatalf("Patch: %+v", got)
	}
	if s := got[0].Strategy; len(s.Stages) != 1 || s.Stages[0].Name != "prod" {
		t.Errorf("the strategy keeps a stage with no cluster of the run: %+v", s.Stages)
	}
	if r := got[0].Run; r.Name != "fleet-patch-v1.36.3" || r.Labels[LabelProfile] != "fleet-patch" || r.Spec.Upgrade.Type != v1alpha1.UpgradeFull || r.Spec.Upgrade.KubernetesVersion != "v1.36.3" {
		t.Errorf("Patch run: %+v", r)
	}
	// Rapid: both prod clusters to the newest; the stage order is kept.
	got = Want(profile(v1alpha1.ChannelRapid), strategies, fleet, obs)
	if len(got) != 1 || got[0].Target != "v1.37.2" || len(got[0].Clusters) != 2 {
		t.Fatalf("Rapid: %+v", got)
	}
	// NodeImage: the clusters with a pool behind the newest image.
	got = Want(profile(v1alpha1.ChannelNodeImage), strategies, fleet, obs)
	if len(got) != 1 || got[0].Target != latest || len(got[0].Clusters) != 1 || got[0].Clusters[0].Name != "prod-a" {
		t.Fatalf("NodeImage: %+v", got)
	}
	if up := got[0].Run.Spec.Upgrade; up.Type != v1alpha1.UpgradeNodeImageOnly || up.NodeImageSelection.Image != latest {
		t.Errorf("NodeImage run: %+v", up)
	}
	// Nothing new: nothing wanted. Disabled: nothing wanted.
	images.Images = images.Images[:1]
	if got := Want(profile(v1alpha1.ChannelNodeImage), strategies, fleet, Observed{Images: images, Clusters: map[string]ClusterState{"dev": {PoolImages: []string{images.Latest().Version}}}}); len(got) != 0 {
		t.Errorf("nothing new, yet: %+v", got)
	}
	p := profile(v1alpha1.ChannelRapid)
	p.Spec.Disabled = true
	if got := Want(p, strategies, fleet, obs); len(got) != 0 {
		t.Errorf("a disabled profile wants %+v", got)
	}
	// No strategy: one stage over the run's clusters, one at a time.
	p = profile(v1alpha1.ChannelRapid)
	p.Spec.StrategyRef = nil
	if got := Want(p, nil, fleet, obs); len(got) != 1 || len(got[0].Strategy.Stages) != 1 || got[0].Strategy.Stages[0].LabelSelector == nil {
		t.Errorf("no strategy: %+v", got)
	}
}

func TestRunNameAndActive(t *testing.T) {
	if got := RunName("Nightly_Images", "ubuntu-2204-2026.12"); got != "nightly-images-ubuntu-2204-2026.12" {
		t.Errorf("RunName %q", got)
	}
	if got := RunName(strings.Repeat("p", 70), "v1.36.3"); len(got) > 63 {
		t.Errorf("RunName too long: %q", got)
	}
	run := &v1alpha1.UpdateRun{}
	for phase, want := range map[string]bool{"": true, v1alpha1.PhaseRunning: true, v1alpha1.PhaseWaiting: true, v1alpha1.PhaseCompleted: false, v1alpha1.PhaseFailed: false, v1alpha1.PhaseRolledBack: false, v1alpha1.PhaseStopped: true} {
		run.Status.Phase = phase
		if Active(run) != want {
			t.Errorf("phase %q active %v", phase, !want)
		}
	}
	run.Status.Phase, run.Spec.State = v1alpha1.PhaseRunning, v1alpha1.StateStop
	if Active(run) {
		t.Error("a run asked to stop holds its profile")
	}
}

// TestWantNamedImages: where a provider names each pool's newest image
// (AKS) and keeps no catalogue, the NodeImage channel wants a run per image
// named that a pool does not run yet, over the clusters it is new to; the
// run takes each pool to the image named for it (Latest), since pools of
// one cluster may run different images.
func TestWantNamedImages(t *testing.T) {
	fleet := []v1alpha1.Cluster{member("aks-a", "prod"), member("aks-b", "prod"), member("aks-c", "prod")}
	ubuntu, ubuntuNew, windows, windowsNew := "AKSUbuntu-2204gen2containerd-202411.12.0", "AKSUbuntu-2204gen2containerd-202412.01.0", "AKSWindows-2022-containerd-20348.2849.241112", "AKSWindows-2022-containerd-20348.2966.241210"
	obs := Observed{Clusters: map[string]ClusterState{
		"aks-a": {PoolImages: []string{ubuntu, windows}, PoolNewest: []string{ubuntuNew, windowsNew}},
		"aks-b": {PoolImages: []string{ubuntu}, PoolNewest: []string{ubuntuNew}},
		"aks-c": {PoolImages: []string{ubuntuNew}, PoolNewest: []string{ubuntuNew}},
	}}
	p := &v1alpha1.AutoUpgradeProfile{ObjectMeta: metav1.ObjectMeta{Name: "images"}, Spec: v1alpha1.AutoUpgradeProfileSpec{Channel: v1alpha1.ChannelNodeImage}}
	got := Want(p, nil, fleet, obs)
	if len(got) != 2 {
		t.Fatalf("%d runs wanted, want 2 (one per image named): %+v", len(got), got)
	}
	byTarget := map[string]Desired{}
	for _, d := range got {
		byTarget[d.Target] = d
		if sel := d.Run.Spec.Upgrade.NodeImageSelection; d.Run.Spec.Upgrade.Type != v1alpha1.UpgradeNodeImageOnly || sel == nil || sel.Type != v1alpha1.NodeImageLatest {
			t.Errorf("run %s: %+v, want NodeImageOnly with the Latest selection", d.Run.Name, d.Run.Spec.Upgrade)
		}
	}
	var names []string
	for _, c := range byTarget[ubuntuNew].Clusters {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "aks-a,aks-b" {
		t.Errorf("%s is new to %v, want aks-a and aks-b", ubuntuNew, names)
	}
	if w := byTarget[windowsNew].Clusters; len(w) != 1 || w[0].Name != "aks-a" {
		t.Errorf("%s is new to %+v, want aks-a", windowsNew, w)
	}
	// Every pool on the image named for it: nothing wanted.
	obs.Clusters = map[string]ClusterState{"aks-c": obs.Clusters["aks-c"]}
	if got := Want(p, nil, fleet, obs); len(got) != 0 {
		t.Errorf("nothing new, yet: %+v", got)
	}
}
