package engine_test

import (
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/engine"
)

// TestFleetOf: spec.clusters limits a run to the clusters it names, in
// the fleet's order; a name the fleet does not hold is bad input that
// names it and what the fleet holds.
func TestFleetOf(t *testing.T) {
	fleet := []v1alpha1.Cluster{{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, {ObjectMeta: metav1.ObjectMeta{Name: "b"}}, {ObjectMeta: metav1.ObjectMeta{Name: "c"}}}
	run := &v1alpha1.UpdateRun{}
	if got, err := engine.FleetOf(run, fleet); err != nil || len(got) != 3 {
		t.Errorf("no spec.clusters: %d clusters, %v", len(got), err)
	}
	run.Spec.Clusters = []string{"c", "a"}
	got, err := engine.FleetOf(run, fleet)
	if err != nil || len(got) != 2 || got[0].Name != "a" || got[1].Name != "c" {
		t.Errorf("spec.clusters [c a]: %v, %v", got, err)
	}
	run.Spec.Clusters = []string{"a", "zed", "yon"}
	_, err = engine.FleetOf(run, fleet)
	var invalid *engine.InvalidError
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "spec.clusters names yon, zed, which the fleet does not hold (it holds a, b, c)") {
		t.Errorf("unknown names: %v", err)
	}
}

// TestRetryTarget: a retry pins the version the first run planned the
// retried clusters to; clusters planned to different patches (providers
// that offer different ones) keep the first run's own target.
func TestRetryTarget(t *testing.T) {
	step := func(v string) v1alpha1.StepStatus { return v1alpha1.StepStatus{Kind: "ControlPlane", Version: v} }
	cluster := func(name, phase string, versions ...string) v1alpha1.StageClusterStatus {
		c := v1alpha1.StageClusterStatus{Name: name, Group: "g", Phase: phase}
		for _, v := range versions {
			c.Steps = append(c.Steps, step(v))
		}
		return c
	}
	strategy := &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "all", Groups: []v1alpha1.GroupRef{{Name: "g"}}}}}
	old := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "minor"},
		Spec: v1alpha1.UpdateRunSpec{Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: "1.37"}},
		Status: v1alpha1.UpdateRunStatus{Strategy: strategy, Stages: []v1alpha1.StageStatus{{Name: "all", Clusters: []v1alpha1.StageClusterStatus{
			cluster("a", v1alpha1.PhaseCompleted, "v1.36.3", "v1.37.2"),
			cluster("b", v1alpha1.PhaseFailed, "v1.37.2"),
			cluster("c", v1alpha1.PhaseSkipped, "v1.36.9", "v1.37.1"),
		}}}}}
	var fleet []v1alpha1.Cluster
	for _, n := range []string{"a", "b", "c"} {
		fleet = append(fleet, v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: n}, Spec: v1alpha1.ClusterSpec{Group: "g"}})
	}
	for _, tc := range []struct {
		failed, skipped bool
		want            string
		clusters        []string
	}{
		{true, false, "v1.37.2", []string{"b"}},
		{false, true, "v1.37.1", []string{"c"}},
		{false, false, "1.37", []string{"b", "c"}},
	} {
		run, _, members, err := engine.Retry(old, fleet, "again", tc.failed, tc.skipped)
		if err != nil {
			t.Fatal(err)
		}
		if run.Spec.Upgrade.KubernetesVersion != tc.want || len(members) != len(tc.clusters) || strings.Join(run.Spec.Clusters, ",") != strings.Join(tc.clusters, ",") {
			t.Errorf("retry failed=%v skipped=%v: target %q over %v, want %q over %v", tc.failed, tc.skipped, run.Spec.Upgrade.KubernetesVersion, run.Spec.Clusters, tc.want, tc.clusters)
		}
	}
}
