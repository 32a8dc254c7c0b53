package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"upshift.dev/upshift/api/v1alpha1"
)

// failed says whether a cluster counts against the failure limits: it
// failed, or was skipped as unreachable.
func failed(c v1alpha1.StageClusterStatus) bool {
	return c.Phase == v1alpha1.PhaseFailed || (c.Phase == v1alpha1.PhaseSkipped && c.Unreachable)
}

// failureLimit is one limit of a stage's failures: whose it is, its
// failed clusters and of how many, and how many it allows.
type failureLimit struct {
	name       string
	failed, of int
	allows     int
	value      string
}

func (l failureLimit) crossed() bool { return l.failed > l.allows }

func (l failureLimit) String() string {
	return fmt.Sprintf("%s %s: %d of %d cluster(s) failed, %d allowed", l.name, l.value, l.failed, l.of, l.allows)
}

// limits are the failure limits that hold a stage's clusters (see
// v1alpha1.FailurePolicy): its groups', its own and the run's, or the
// run's maxFailedClustersPerStage where none is set.
func (e *Engine) limits(stage int, spec v1alpha1.StageSpec) []failureLimit {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := &e.run.Status
	scaled := func(v intstr.IntOrString, of int) int {
		n, err := intstr.GetScaledValueFromIntOrPercent(&v, of, false)
		if err != nil {
			return 0 // validation refused it
		}
		return n
	}
	var out []failureLimit
	st := s.Stages[stage]
	for _, g := range spec.Groups {
		if g.MaxFailedClusters == nil {
			continue
		}
		l := failureLimit{name: "group " + g.Name + "'s maxFailedClusters", value: g.MaxFailedClusters.String()}
		for _, c := range st.Clusters {
			if c.Group == g.Name {
				l.of++
				if failed(c) {
					l.failed++
				}
			}
		}
		l.allows = scaled(*g.MaxFailedClusters, l.of)
		out = append(out, l)
	}
	stageLimit := failureLimit{name: "stage " + st.Name + "'s maxFailedClusters", of: len(st.Clusters)}
	for _, c := range st.Clusters {
		if failed(c) {
			stageLimit.failed++
		}
	}
	if spec.MaxFailedClusters != nil {
		stageLimit.value, stageLimit.allows = spec.MaxFailedClusters.String(), scaled(*spec.MaxFailedClusters, stageLimit.of)
		out = append(out, stageLimit)
	}
	if m := e.run.Spec.FailurePolicy.MaxFailedClusters; m != nil {
		l := failureLimit{name: "the run's maxFailedClusters", value: m.String()}
		for _, st := range s.Stages {
			for _, c := range st.Clusters {
				l.of++
				if failed(c) {
					l.failed++
				}
			}
		}
		l.allows = scaled(*m, l.of)
		out = append(out, l)
	}
	if len(out) == 0 {
		n := e.run.Spec.FailurePolicy.MaxFailedClustersPerStage
		stageLimit.name, stageLimit.value, stageLimit.allows = "the run's maxFailedClustersPerStage", fmt.Sprint(n), n
		out = append(out, stageLimit)
	}
	return out
}

// crossedLimit is the first limit the stage's failures cross, or nil.
func crossedLimit(ls []failureLimit) *failureLimit {
	for i := range ls {
		if ls[i].crossed() {
			return &ls[i]
		}
	}
	return nil
}

// held says which limits the failures stayed within.
func held(ls []failureLimit) string {
	var out []string
	for _, l := range ls {
		out = append(out, l.String())
	}
	return "within " + strings.Join(out, "; ")
}

// unreachableTimeout bounds the reachability check of skipUnreachable.
const unreachableTimeout = 20 * time.Second

// reachable asks the cluster's provider and API server whether they
// answer now, and the provider whether the cluster is running.
func reachable(ctx context.Context, m *Member) error {
	ctx, cancel := context.WithTimeout(ctx, unreachableTimeout)
	defer cancel()
	info, err := m.Provider.Get(ctx, m.Name)
	if err != nil {
		return fmt.Errorf("its provider does not answer for it: %w", err)
	}
	if info.Stopped {
		return fmt.Errorf("its provider reports it stopped (AKS: powerState Stopped; `az aks start` starts it)")
	}
	if m.RESTConfig == nil {
		return nil
	}
	cfg := *m.RESTConfig
	cfg.Timeout = unreachableTimeout
	client, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		return err
	}
	if _, err := client.Discovery().ServerVersion(); err != nil {
		return fmt.Errorf("its API server does not answer: %w", err)
	}
	return nil
}
