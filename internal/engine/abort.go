package engine

import (
	"context"
	"fmt"
	"slices"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/providers/cluster"
)

// Aborted is what aborting one cluster's cloud operation came to.
type Aborted struct {
	Cluster string
	// What was aborted, in one line; "" when nothing was.
	What string
	// Why nothing was aborted: no operation under way, or a provider
	// that runs none that can be aborted.
	Why string
	Err error
}

// AbortCloudOperations aborts, in the cloud, the operations of a run's
// steps under way (`upshift stop --abort-cloud-operation`): on each
// cluster of the run whose step is running and whose provider can abort
// one (cluster.Aborter). The run's driver then finds the step stopped,
// not failed. It reads the run and its fleet; it changes nothing else.
func (e *Engine) AbortCloudOperations(ctx context.Context, name string) ([]Aborted, error) {
	run, err := e.Store.Get(name)
	if err != nil {
		return nil, err
	}
	var out []Aborted
	for _, st := range run.Status.Stages {
		for _, cs := range st.Clusters {
			if cs.Phase != v1alpha1.PhaseRunning || !slices.ContainsFunc(cs.Steps, func(s v1alpha1.StepStatus) bool { return s.Phase == v1alpha1.PhaseRunning }) {
				continue
			}
			a := Aborted{Cluster: cs.Name}
			i := slices.IndexFunc(e.Fleet, func(c v1alpha1.Cluster) bool { return c.Name == cs.Name })
			if i < 0 {
				a.Err = fmt.Errorf("cluster %s is not in the run's fleet", cs.Name)
				out = append(out, a)
				continue
			}
			m, err := e.Resolve(e.Fleet[i])
			if err != nil {
				a.Err = &UnresolvedError{Cluster: cs.Name, Err: err}
				out = append(out, a)
				continue
			}
			ab, ok := m.Provider.(cluster.Aborter)
			if !ok {
				a.Why = fmt.Sprintf("its provider (%s) runs no cloud operation that can be aborted: the step under way finishes", e.Fleet[i].Spec.Provider)
				out = append(out, a)
				continue
			}
			a.What, a.Err = ab.AbortOperation(ctx, m.Name)
			if a.What == "" && a.Err == nil {
				a.Why = "no cloud operation was under way"
			}
			out = append(out, a)
		}
	}
	return out, nil
}
