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
