package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/toolchain"
)

// clock is a settable clock for maintenance windows.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func at(hhmm string) time.Time   { t, _ := time.Parse("2006-01-02 15:04", "2026-12-07 "+hhmm); return t }
func one() *intstr.IntOrString   { v := intstr.FromInt32(1); return &v }
func windowed(c v1alpha1.Cluster) v1alpha1.Cluster {
	c.Spec.MaintenanceWindow = &v1alpha1.MaintenanceWindow{Schedule: v1alpha1.WindowSchedule{Daily: &v1alpha1.DailySchedule{IntervalDays: 1}}, StartTime: "02:00", DurationHours: 4}
	return c
}

// TestEngineTable drives runs over the instant provider and a file store,
// in milliseconds each: the order of stages and clusters, a stop, skips
// of a cluster and of a stage, and a cluster that waits for its
// maintenance window until the clock reaches it.
func TestEngineTable(t *testing.T) {
	a1, a2, b1, b2 := member("a1", "a"), member("a2", "a"), member("b1", "b"), member("b2", "b")
	serial := func(name string, groups ...string) v1alpha1.StageSpec {
		s := stage(name, groups...)
		s.MaxConcurrency = one()
		return s
	}
	for _, tc := range []struct {
		name   string
		fleet  []v1alpha1.Cluster
		stages []v1alpha1.StageSpec
		// before runs against the store before the drive.
		before func(st *store.Store) error
		// clock, when set, is the engine's; during runs while the
		// drive goes on (it may move the clock).
		clock  time.Time
		during func(t *testing.T, st *store.Store, c *clock)
		// want: the clusters upgraded, in order; the run's phase; its
		// clusters' phases.
		want     []string
		phase    string
		clusters map[string]string
		err      error
	}{
		{name: "stages in order, clusters one at a time in fleet order", fleet: []v1alpha1.Cluster{b1, a1, b2, a2},
			stages: []v1alpha1.StageSpec{serial("a", "a"), serial("b", "b")},
			want:   []string{"a1", "a2", "b1", "b2"}, phase: v1alpha1.PhaseCompleted},
		{name: "a stop asked before the drive upgrades nothing", fleet: []v1alpha1.Cluster{a1, b1},
			stages: []v1alpha1.StageSpec{serial("a", "a"), serial("b", "b")},
			before: func(st *store.Store) error { return st.SetState("table", v1alpha1.StateStop) },
			want:   nil, phase: v1alpha1.PhaseStopped, err: engine.ErrStopped},
		{name: "a skipped cluster is passed over", fleet: []v1alpha1.Cluster{a1, a2, b1},
			stages: []v1alpha1.StageSpec{serial("a", "a"), serial("b", "b")},
			before: func(st *store.Store) error {
				return st.Skip("table", store.Approval{Key: store.ClusterKey("a1"), By: "test", Time: time.Now()})
			},
			want: []string{"a2", "b1"}, phase: v1alpha1.PhaseCompleted, clusters: map[string]string{"a1": v1alpha1.PhaseSkipped, "a2": v1alpha1.PhaseCompleted}},
		{name: "a skipped stage is passed over", fleet: []v1alpha1.Cluster{a1, b1, b2},
			stages: []v1alpha1.StageSpec{serial("a", "a"), serial("b", "b")},
			before: func(st *store.Store) error {
				return st.Skip("table", store.Approval{Key: store.StageKey("a"), By: "test", Time: time.Now()})
			},
			want: []string{"b1", "b2"}, phase: v1alpha1.PhaseCompleted, clusters: map[string]string{"a1": v1alpha1.PhaseSkipped}},
		{name: "a cluster waits for its maintenance window", fleet: []v1alpha1.Cluster{windowed(a1), a2},
			stages: []v1alpha1.StageSpec{serial("a", "a")}, clock: at("01:00"),
			during: func(t *testing.T, st *store.Store, c *clock) {
				waitFor(t, st, "table", "a1 to wait for its window", func(r *v1alpha1.UpdateRun) bool {
					cs := clusterStatus(r, "a1")
					return len(cs.Steps) > 0 && cs.Steps[0].Phase == v1alpha1.PhaseWaiting
				})
				c.set(at("02:30"))
			},
			want: []string{"a1", "a2"}, phase: v1alpha1.PhaseCompleted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			e, p := instantEngine(t, tc.fleet)
			c := &clock{t: tc.clock}
			if !tc.clock.IsZero() {
				e.Now = c.now
			}
			st := e.Store.(*store.Store)
			run, strategy := newRun("table", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: toolchain.Latest().Minor}, tc.stages...)
			if _, err := e.Initialize(context.Background(), run, strategy); err != nil {
				t.Fatal(err)
			}
			if tc.before != nil {
				if err := tc.before(st); err != nil {
					t.Fatal(err)
				}
			}
			done := make(chan struct{})
			if tc.during != nil {
				go func() { defer close(done); tc.during(t, st, c) }()
			} else {
				close(done)
			}
			got, err := e.Drive(context.Background(), "table")
			<-done
			if (tc.err == nil) != (err == nil) || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("drive: %v, want %v", err, tc.err)
			}
			if order := p.Order(); !slices.Equal(order, tc.want) {
				t.Errorf("upgraded %v, want %v", order, tc.want)
			}
			if got.Status.Phase != tc.phase {
				t.Errorf("run %s, want %s: %s", got.Status.Phase, tc.phase, got.Status.Message)
			}
			for name, phase := range tc.clusters {
				if cs := clusterStatus(got, name); cs.Phase != phase {
					t.Errorf("cluster %s: %s, want %s", name, cs.Phase, phase)
				}
			}
			t.Logf("%s", time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestProgressCountsTheStepDone: each step's completion line counts that
// step, so the last one reads N/N.
func TestProgressCountsTheStepDone(t *testing.T) {
	e, _ := instantEngine(t, []v1alpha1.Cluster{member("a1", "a"), member("a2", "a")})
	s := stage("a", "a")
	s.MaxConcurrency = one()
	var mu sync.Mutex
	var done []string
	e.Progress = func(ev engine.Event) {
		if ev.Type == "Completed" && ev.Step != "" {
			mu.Lock()
			defer mu.Unlock()
			done = append(done, ev.Message[strings.LastIndex(ev.Message, "] ")+2:])
		}
	}
	run, strategy := newRun("progress", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: toolchain.Latest().Minor}, s)
	if _, err := e.Initialize(context.Background(), run, strategy); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Drive(context.Background(), "progress"); err != nil {
		t.Fatal(err)
	}
	if len(done) < 2 {
		t.Fatalf("%d step completions told: %v", len(done), done)
	}
	for k, got := range done {
		if want := fmt.Sprintf("%d/%d steps", k+1, len(done)); got != want {
			t.Errorf("completion %d says %q, want %q (all: %v)", k+1, got, want, done)
		}
	}
}
