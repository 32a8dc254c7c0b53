package aks_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/providers/cluster/aks"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

// TestStoppedAKSCluster: a cluster its owners stopped in Azure (`az aks
// stop`, powerState Stopped) is skipped at its turn under
// failurePolicy.skipUnreachable, though nothing else about it fails; and
// without it the run stops at once saying how to start it, having asked
// Azure for nothing. Started again, it is upgradable.
func TestStoppedAKSCluster(t *testing.T) {
	testfleet.Up(t, localfleet.Spec{Name: "aks-stopped", KubernetesVersion: lower.Minor})
	srv, _ := emulator(t)
	ctx := t.Context()
	spec := &v1alpha1.AKSCluster{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: azureemu.AdoptGroup, Name: "aks-stopped", ARMEndpoint: srv.URL}
	p, err := aks.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	power := func(stop bool) {
		t.Helper()
		var err error
		if stop {
			poller, perr := p.Clusters.BeginStop(ctx, azureemu.AdoptGroup, "aks-stopped", nil)
			if err = perr; err == nil {
				_, err = poller.PollUntilDone(ctx, nil)
			}
		} else {
			poller, perr := p.Clusters.BeginStart(ctx, azureemu.AdoptGroup, "aks-stopped", nil)
			if err = perr; err == nil {
				_, err = poller.PollUntilDone(ctx, nil)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	power(true)
	if info, err := p.Get(ctx, "aks-stopped"); err != nil || !info.Stopped {
		t.Fatalf("Get of a stopped cluster: %+v, %v", info, err)
	}

	fc := v1alpha1.Cluster{TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "Cluster"}, ObjectMeta: metav1.ObjectMeta{Name: "aks-stopped"},
		Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderAKS, AKS: spec, Group: "all"}}
	e := &engine.Engine{Store: &store.Store{Dir: t.TempDir()}, Fleet: []v1alpha1.Cluster{fc}, Poll: 100 * time.Millisecond,
		Resolve: fleetmember.NewResolver(fleetmember.Env{Home: testfleet.Fleet(t).Home, CacheDir: toolchain.DefaultCacheDir()})}
	strategy := &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "all", Groups: []v1alpha1.GroupRef{{Name: "all"}}}}}
	drive := func(name string, policy v1alpha1.FailurePolicy) (*v1alpha1.UpdateRun, error) {
		run := &v1alpha1.UpdateRun{TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "UpdateRun"}, ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1alpha1.UpdateRunSpec{Strategy: strategy, FailurePolicy: policy, Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeControlPlaneOnly, KubernetesVersion: higher.Minor}}}
		if _, err := e.Initialize(ctx, run, strategy); err != nil {
			t.Fatal(err)
		}
		return e.Drive(ctx, name)
	}

	one := intstr.FromInt32(1)
	final, err := drive("past-stopped", v1alpha1.FailurePolicy{SkipUnreachable: true, MaxFailedClusters: &one})
	if err != nil {
		t.Fatal(err)
	}
	c := final.Status.Stages[0].Clusters[0]
	if final.Status.Phase != v1alpha1.PhaseCompleted || c.Phase != v1alpha1.PhaseSkipped || !c.Unreachable || !strings.Contains(c.Message, "its provider reports it stopped") {
		t.Errorf("skipUnreachable over a stopped cluster: run %s, cluster %s (unreachable %v): %s", final.Status.Phase, c.Phase, c.Unreachable, c.Message)
	}

	final, err = drive("at-stopped", v1alpha1.FailurePolicy{})
	if err == nil || final.Status.Phase != v1alpha1.PhaseFailed {
		t.Fatalf("a run over a stopped cluster: %v, %s", err, final.Status.Phase)
	}
	msg := testfleet.StatusOf(final)
	for _, want := range []string{"managed cluster " + azureemu.AdoptGroup + "/aks-stopped is stopped (powerState Stopped)", "az aks start -g " + azureemu.AdoptGroup + " -n aks-stopped"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the failed run does not say %q:\n%s", want, msg)
		}
	}
	if info, err := p.Get(ctx, "aks-stopped"); err != nil || info.KubernetesVersion != lower.Version {
		t.Errorf("the stopped cluster was changed: %+v, %v", info, err)
	}

	power(false)
	if info, err := p.Get(ctx, "aks-stopped"); err != nil || info.Stopped {
		t.Errorf("Get of a started cluster: %+v, %v", info, err)
	}
}
