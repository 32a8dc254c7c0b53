package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/providers/cluster/instant"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/toolchain"
)

// BenchmarkEngineOverhead drives a run over 200 clusters (4 stages, 5
// groups each, maxConcurrency 5) on a provider that completes instantly:
// the figure is the engine's own cost per cluster — planning, status
// writes, audit log — not an upgrade's.
func BenchmarkEngineOverhead(b *testing.B) {
	const clusters = 200
	var fleet []v1alpha1.Cluster
	for i := range clusters {
		fleet = append(fleet, v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("c%03d", i)}, Spec: v1alpha1.ClusterSpec{Provider: "local", Local: &v1alpha1.LocalClusterRef{Name: "x"}, Group: fmt.Sprintf("s%d-g%d", i%4, i%5)}})
	}
	strategy := &v1alpha1.UpdateStrategySpec{}
	for s := range 4 {
		st := v1alpha1.StageSpec{Name: fmt.Sprintf("stage-%d", s), MaxConcurrency: ptrTo(intstr.FromInt32(5))}
		for g := range 5 {
			st.Groups = append(st.Groups, v1alpha1.GroupRef{Name: fmt.Sprintf("s%d-g%d", s, g)})
		}
		strategy.Stages = append(strategy.Stages, st)
	}
	builtin.Register()
	provider := &instant.Provider{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := &engine.Engine{
			Store: &store.Store{Dir: b.TempDir()},
			Fleet: fleet,
			Poll:  time.Second,
			Resolve: func(c v1alpha1.Cluster) (*engine.Member, error) {
				return &engine.Member{Provider: provider, Name: c.Name}, nil
			},
		}
		run := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "bench"}, Spec: v1alpha1.UpdateRunSpec{Strategy: strategy, Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: toolchain.Latest().Minor}}}
		if _, err := e.Initialize(context.Background(), run, strategy); err != nil {
			b.Fatal(err)
		}
		if _, err := e.Drive(context.Background(), "bench"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/clusters, "µs/cluster(engine-only)")
	b.ReportMetric(float64(provider.Actions.Load())/float64(b.N), "actions/run")
}

func ptrTo[T any](v T) *T { return &v }
